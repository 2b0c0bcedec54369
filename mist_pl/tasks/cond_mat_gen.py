"""Conditional material generation (CMG): a set of elements -> a compound made of them.

The task as the MiST reference defines it: the prompt names the elements and nothing
else (no target space group, no formula); the answer is the unit cell written as element
symbols, one per atom, and a space-group tag (``Ca O Sn Sn <sg62>``, see
:func:`mist_pl.tasks.answer.parse_material_text`), or a CIF. There is no single right answer: any
compound of exactly those elements that is chemically valid is right.

Valid answer (:func:`valid_answer`): exactly one ``<answer>`` block (two or more count as
none) holding ``El El ... <sgN>`` of real elements with N in 1-230, or a CIF that parses
into a structure with atoms no closer than 0.5 Å. Whatever its elements or charge.

Right answer (:func:`top1`): a valid answer made of exactly the requested elements, every
one of them and no other, whose composition is charge valid under the run's rule
(:mod:`mist_pl.chem.charge_balance`, ``icsd24_ranked`` by default; SrTiO8, YO2 and NaCl3
fail, InP, SiC and Fe3O4 pass). A composition of metals only is an alloy and needs no
charge balance: that can only happen when every requested element is a metal, since
the answer must use them all. The optional columns ``oxidation_states`` (a set name) and
``mixed_valence`` (bool) choose another rule; a bad value fails at start-up
(:func:`check_settings`).

Reward (:func:`cond_mat_gen_reward`, in [0, 1]; ``REWARD_WEIGHTS``):

* 0 without a valid answer: a missing, unparseable or out-of-range answer earns nothing
  of the content reward, and neither does a second answer block;
* ``valid`` 0.1 for a valid answer of any elements;
* ``elements`` 0.3 x the F1 of its element set against the request (coverage of the
  requested elements and no others, the reference's two element terms in one);
* ``right`` 0.4 when it is right (:func:`top1`);
* ``novel`` 0.2 when it is right and its reduced formula is new: absent from the run's
  known compositions (the ``known_compositions`` column: the training split's and the
  SFT data's formulas, a file of them or a set) and the first of its kind for its
  request in the batch, so each composition pays once per round, as in the reference.
  Without known compositions only the once-per-round rule applies.

So a well-formed answer of the requested elements that does not balance earns 0.4, a
single requested element of three earns 0.25, a material of other elements 0.1, and only
a right answer earns more. Charge balance and novelty never pay on their own: a lone
element is "neutral", any formula of unrelated elements is "new", and RL on the demo's
tiny model found both holes within 30 steps when they paid.

The prompt holds no answer: the reference answer of an example (``answer``, the formula
of the crystal the request was made from) is never shown, and a no-model rule that
copies the request (each element once) is scored beside every model
(:mod:`mist_pl.eval.baselines`). What remains is inherent to the task as MiST defines it:
a rule that searches small whole-number ratios under the same charge rule is right for
almost every request; a model's score means something against that solver, not against
zero.

Example columns: ``elements`` (list of symbols); optional ``known_compositions``,
``oxidation_states``, ``mixed_valence``; ``answer`` and ``space_group`` of the source
crystal (for SFT traces and baselines only, never read by the reward).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from mist_pl.chem.charge_balance import charge_balance_assignment
from mist_pl.chem.crystals import as_composition
from mist_pl.chem.space_groups import N_SPACE_GROUPS, number_of_symbol
from mist_pl.runtime.protocol import check_columns, example_at
from mist_pl.tasks.answer import answer_instructions, cif_text, format_reward, parse_completion, parse_material_text
from mist_pl.tasks.examples import Examples, origin
from mist_pl.tasks.material_checks import (
    ChargeSettings,
    KnownCompositions,
    as_known,
    charge_balanced,
    charge_settings,
    distances_physical,
    parse_structure,
    real_elements,
    reduce_formula,
    reduced_formula,
    structure_counts,
)
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import chemical_system
from mist_pl.tasks.traces import wrap

NAME = "cond_mat_gen"

REWARD_WEIGHTS = {"valid": 0.1, "elements": 0.3, "right": 0.4, "novel": 0.2}


def requested_elements(example: Mapping[str, Any]) -> frozenset[str] | None:
    """The element symbols an example asks for (a list, or a string split on spaces and
    commas); None when it names none."""
    elements = example.get("elements")
    if isinstance(elements, str):
        elements = elements.replace(",", " ").split()
    if not isinstance(elements, (list, tuple, set, frozenset)) or not elements:
        return None
    return frozenset(str(e).strip() for e in elements)


def answer_counts(answer: str | None) -> dict[str, float] | None:
    """The composition of a valid answer ({symbol: atoms in the cell}), or None when the
    answer is not valid (see the module docstring)."""
    if answer is None:
        return None
    cif = cif_text(answer)
    if cif is not None:
        structure = parse_structure(cif)
        if structure is None or not distances_physical(structure):
            return None
        return structure_counts(structure) or None
    material = parse_material_text(answer)
    if (material is None or material.space_group is None or not 1 <= material.space_group <= N_SPACE_GROUPS
            or not real_elements(material.counts)):
        return None
    return dict(material.counts)


def is_right(counts: Mapping[str, float] | None, wanted: frozenset[str], charge: ChargeSettings) -> bool:
    """Exactly the requested elements, and charge valid under ``charge``."""
    return counts is not None and set(counts) == wanted and charge_balanced(counts, charge)


def element_f1(given: set[str], wanted: frozenset[str]) -> float:
    """Harmonic mean of element precision and recall (0 when nothing matches)."""
    hits = len(given & wanted)
    return 2 * hits / (len(given) + len(wanted)) if hits else 0.0


def score_parts(completion: Any, example: Mapping[str, Any]) -> tuple[dict[str, float], str | None] | None:
    """``(parts, formula)``: each reward part scored 0..1 (novelty aside) and the reduced
    formula of a right answer (None otherwise); None when the example names no elements."""
    wanted = requested_elements(example)
    if wanted is None:
        return None
    counts = answer_counts(parse_completion(completion).answer)
    if counts is None:
        return {}, None
    right = is_right(counts, wanted, charge_settings(example))
    parts = {"valid": 1.0, "elements": element_f1(set(counts), wanted), "right": float(right)}
    return parts, reduced_formula(counts) if right else None


def cond_mat_gen_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """The task reward (module docstring) for a batch; a right formula earns the novelty
    part once per request in the batch. Rows of another task (``task`` column) get None."""
    check_columns(columns, len(completions), "cond_mat_gen_reward")
    paid: set[tuple[frozenset[str], str]] = set()
    out: list[float | None] = []
    for i, completion in enumerate(completions):
        example = example_at(columns, i)
        if isinstance(example.get("task"), str) and example["task"] != NAME:
            out.append(None)
            continue
        scored = score_parts(completion, example)
        if scored is None:
            out.append(None)
            continue
        parts, formula = scored
        reward = float(sum(REWARD_WEIGHTS[name] * value for name, value in parts.items()))
        if formula is not None:
            key = (requested_elements(example), formula)
            known = as_known(example.get("known_compositions"))
            if key not in paid and (known is None or formula not in known):
                reward += REWARD_WEIGHTS["novel"]
            paid.add(key)
        out.append(reward)
    return out


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    """Right: a valid answer of exactly the requested elements, charge valid."""
    scored = score_parts(completion, example)
    return scored is not None and scored[0].get("right") == 1.0


def novel_top1(completion: Any, example: Mapping[str, Any]) -> bool:
    """Right, and its reduced formula is not among the known compositions (every right
    answer counts when the example carries none)."""
    scored = score_parts(completion, example)
    if scored is None or scored[1] is None:
        return False
    known = as_known(example.get("known_compositions"))
    return known is None or scored[1] not in known


def source_top1(completion: Any, example: Mapping[str, Any]) -> bool:
    """Right, and the same reduced formula as the crystal the request was made from (its
    ``answer``): a stricter rate than top-1, since a charge rule admits many ratios and a
    rule-based solver finds one of them, while this asks for the stoichiometry these
    elements were actually found in (a pymatgen structure, or its charge-balanced
    substitution). False when the example has no source formula."""
    scored = score_parts(completion, example)
    return scored is not None and scored[1] is not None and scored[1] == reduce_formula(example.get("answer"))


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """One answer block holding a material the reward can score, right or wrong: valid
    ``El El ... <sgN>`` text or a CIF of a physically possible structure (module
    docstring). The example is not consulted."""
    return answer_counts(parse_completion(completion).answer) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    elements = ", ".join(sorted(requested_elements(example) or ()))
    return (
        f"Given the following elements: {elements}. Propose one chemically valid and novel crystalline "
        "compound made of exactly these elements, every one of them and no other.\n"
        "Write its unit cell as element symbols, one per atom, followed by its space group tag <sgN> "
        "(N = space group number, 1-230), or give a CIF.\n"
        + answer_instructions("the composition with its space group tag, or the CIF", "El El El <sgN>")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Requests built from a serialized-crystal file (``crystalrelax_tiny`` format: records
    separated by blank lines, starting ``serialized_cif formula El N_int ...`` and
    ``space_group_symbol <symbol>_sg``). ``answer`` and ``space_group`` hold the record's
    formula and space group (the source crystal, for SFT traces; never in the prompt)."""
    path = Path(path)
    examples = Examples()
    start_line, record = 1, []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() + [""]
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not record:
                start_line = number
            record.append(line.split())
            continue
        if not record:
            continue
        where, fields = origin(path, start_line), record
        record = []
        head = fields[0]
        if head[:2] != ["serialized_cif", "formula"] or len(head) < 4 or len(head) % 2:
            examples.skip(where, "record does not start with 'serialized_cif formula El N_int ...'")
            continue
        elements = head[2::2]
        counts = [c.removesuffix("_int") for c in head[3::2]]
        if not real_elements(elements) or not all(c.isdigit() and int(c) > 0 for c in counts):
            examples.skip(where, "formula has unknown elements or bad counts")
            continue
        space_group = None
        for fields_line in fields[1:]:
            if fields_line and fields_line[0] == "space_group_symbol" and len(fields_line) == 2:
                space_group = number_of_symbol(fields_line[1].removesuffix("_sg"))
                if space_group is None:
                    examples.skip(where, f"unknown space group symbol {fields_line[1][:30]!r}")
                    break
        else:
            formula = "".join(f"{e}{c}" for e, c in zip(elements, counts))
            examples.append({"elements": sorted(set(elements)), "space_group": space_group, "answer": formula, "origin": where})
    return examples.report(f"cond_mat_gen {path}")


def cell_text(counts: Mapping[str, int], space_group: int) -> str:
    """``{"Na": 2, "Cl": 2}``, 225 -> ``"Cl Cl Na Na <sg225>"``: the answer format."""
    return " ".join(el for el in sorted(counts) for _ in range(int(counts[el]))) + f" <sg{int(space_group)}>"


def reference_answer(example: Mapping[str, Any]) -> str | None:
    """The source crystal of a request (``answer`` formula, ``space_group``) as answer text."""
    composition = example.get("answer")
    space_group = example.get("space_group")
    if not isinstance(composition, str) or space_group is None:
        return None
    material = parse_material_text(" ".join(_formula_tokens(composition)))
    return None if material is None else cell_text(material.counts, int(space_group))


def _formula_tokens(formula: str) -> list[str]:
    """"Cl4Na4" -> ["Cl4", "Na4"]: split before each capital letter."""
    tokens, start = [], 0
    for i in range(1, len(formula) + 1):
        if i == len(formula) or formula[i].isupper():
            tokens.append(formula[start:i])
            start = i
    return tokens


# No-model rules (mist_pl.eval.baselines scores them beside every model). The space group
# tag is P1 (<sg1>): true of any crystal, and the reward only checks its range.
MAX_SOLVER_ATOMS = 24


def copy_request(examples: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """Each requested element once: what a model that only copies the prompt writes."""
    return [cell_text(dict.fromkeys(wanted, 1), 1) if (wanted := requested_elements(e)) else None for e in examples]


def _counts_by_size(n_elements: int, max_atoms: int):
    """Every vector of positive counts, fewest atoms first."""
    def split(total: int, parts: int):
        if parts == 1:
            yield (total,)
            return
        for first in range(1, total - parts + 2):
            for rest in split(total - first, parts - 1):
                yield (first, *rest)

    for total in range(n_elements, max_atoms + 1):
        yield from split(total, n_elements)


def ratio_solver(examples: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """The smallest cell (fewest atoms, up to :data:`MAX_SOLVER_ATOMS`) of exactly the
    requested elements that the run's charge rule accepts: a 20-line rule, no model."""
    answers: list[str | None] = []
    for example in examples:
        wanted = sorted(requested_elements(example) or ())
        charge = charge_settings(example)
        found = None
        if wanted and real_elements(wanted):
            for counts in _counts_by_size(len(wanted), MAX_SOLVER_ATOMS):
                cell = dict(zip(wanted, counts))
                if charge_balanced(cell, charge):
                    found = cell_text(cell, 1)
                    break
        answers.append(found)
    return answers


def random_counts(examples: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """The requested elements with uniformly random counts 1-4 and a random space group:
    a valid answer that uses the request and no chemistry (seeded by the element set)."""
    answers: list[str | None] = []
    for example in examples:
        wanted = sorted(requested_elements(example) or ())
        rng = random.Random("|".join(wanted))
        answers.append(cell_text({el: rng.randint(1, 4) for el in wanted}, rng.randint(1, N_SPACE_GROUPS))
                       if wanted else None)
    return answers


def check_settings(example: Mapping[str, Any]) -> None:
    """Raise ValueError naming a bad ``oxidation_states`` / ``mixed_valence`` of an example."""
    charge_settings(example)


def _cell_counts(formula: str) -> dict[str, int] | None:
    composition = as_composition(formula)
    if composition is None or len(composition) == 0:
        return None
    counts = {el.symbol: n for el, n in composition.element_composition.items()}
    if any(abs(n - round(n)) > 1e-6 or n < 1 for n in counts.values()):
        return None
    return {el: int(round(n)) for el, n in counts.items()}


def _state_text(low: Fraction, high: Fraction) -> str:
    def signed(value: Fraction) -> str:
        return f"+{value}" if value > 0 else str(value)

    return signed(low) if low == high else f"between {signed(low)} and {signed(high)} (mixed valence)"


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """Reasoning to the source crystal of a request: its cell, the oxidation states that
    make it charge valid (the rule the reward judges by, :mod:`mist_pl.chem.charge_balance`)
    and its space group. None when the example has no usable source crystal."""
    space_group = example.get("space_group")
    counts = _cell_counts(example.get("answer", "")) if isinstance(example.get("answer"), str) else None
    if counts is None or space_group is None or not charge_balanced(counts, charge_settings(example)):
        return None  # no right answer to show
    order = sorted(counts)
    requested = sorted(example.get("elements") or order)
    lines = [f"Requested elements: {', '.join(requested)}; the compound must contain every one of them and no other.",
             f"One cell made of these elements is {' '.join(f'{el}{counts[el]}' for el in order)}."]
    _, states = charge_balance_assignment(counts, mixed_valence=bool(example.get("mixed_valence")))
    if states:
        listed = ", ".join(f"{el} {_state_text(*states[el])}" for el in order if el in states)
        lines.append(f"Oxidation states: {listed}; the charges cancel, so the composition is charge balanced.")
    else:
        lines.append("All of them are metals: an alloy, which needs no charge balance.")
    lines.append(f"Its space group is number {int(space_group)}.")
    answer = " ".join(el for el in order for _ in range(counts[el])) + f" <sg{int(space_group)}>"
    return wrap("\n".join(lines), answer)


def corpus_document(example: Mapping[str, Any], seed: int = 0) -> str | None:
    """A paragraph about one (training) crystal for the CPT corpus: its elements, cell,
    the oxidation states that balance it and its space group, followed by the cell written
    as the task's answer. None when the example has no usable crystal."""
    space_group = example.get("space_group")
    counts = _cell_counts(example.get("answer", "")) if isinstance(example.get("answer"), str) else None
    if counts is None or space_group is None:
        return None
    order = sorted(counts)
    formula = "".join(f"{el}{counts[el] if counts[el] > 1 else ''}" for el in order)
    rng = random.Random(f"{seed}|{formula}|{space_group}")
    _, states = charge_balance_assignment(counts, mixed_valence=bool(example.get("mixed_valence")))
    if states:
        charge = "Oxidation states " + ", ".join(f"{el} {_state_text(*states[el])}" for el in order if el in states) + \
            " balance its charges."
    elif charge_balanced(counts, charge_settings(example)):
        charge = "All of its elements are metals: an alloy, which needs no charge balance."
    else:
        charge = "No common oxidation states of its elements balance its charges."
    opening = rng.choice((
        f"{formula} is a crystalline compound of {', '.join(order)} in space group {int(space_group)}.",
        f"Elements {', '.join(order)} form the crystal {formula} (space group {int(space_group)}).",
    ))
    return f"{opening} {charge} Its cell: {cell_text(counts, int(space_group))}"


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(cond_mat_gen_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="element set -> a charge-valid compound of exactly those elements ('El El ... <sgN>' or a CIF)",
        valid=valid_answer,
        check_example=check_settings,
        metrics={"novel_top1": novel_top1, "source_top1": source_top1},
        reference_answer=reference_answer,
        baselines={"copy_request": copy_request, "random_counts": random_counts, "ratio_solver": ratio_solver},
        # the request is the element set: one request per set, and no set in two splits
        split_key=chemical_system,
        dedupe_key=chemical_system,
        sft_trace=sft_trace,
        corpus=lambda examples, seed: [d for e in examples if (d := corpus_document(e, seed))],
        label_column="space_group",
        distinct_labels="distinct space groups",
        fixture_examples=mist_demo_files(load_examples, "crystalrelax_tiny/tgt-train.txt", "crystalrelax_tiny/tgt-test.txt"),
        # pymatgen's shipped structures and prototypes + SMACT-checked substitutions (no raw file)
        raw_examples="mist_pl.tasks.sources.raw_examples:cond_mat_gen_examples",
    )
)


def known_compositions(examples: list[dict]) -> KnownCompositions:
    """The reduced formulas of some examples' reference answers (e.g. the training split),
    ready to pass as the shared ``known_compositions`` column."""
    return KnownCompositions(e["answer"] for e in examples if e.get("answer"))
