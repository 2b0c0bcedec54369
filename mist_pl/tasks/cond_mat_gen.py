"""Conditional material generation (CMG): elements (+ space group) -> a material.

The model answers either ``El El ... <sgN>`` (one element token per atom of the cell,
see :mod:`mist_pl.tasks.material_answer`) or a CIF. The reward is a weighted mean of
checks, each scoring 0..1, over the checks that apply to the example; it lies in
[0, 1], and an answer in neither format scores 0.

Text answers (``TEXT_WEIGHTS``): format; space group in 1-230; space group equals the
requested one (only when one is requested); element precision and recall against the
request; elements real so pymatgen can build the composition; charge balanced (SMACT);
novel, i.e. reduced formula absent from the known compositions (only when given).
Every check but format and the element scores is weighted by the element F1
(:data:`GATED_BY_ELEMENTS`): a well-formed, charge-balanced material of the wrong
elements earns the format weight and nothing else.

CIF answers (``CIF_WEIGHTS``): pymatgen parses it; element precision and recall;
interatomic distances >= 0.5 A (periodic images included); detected space group equals
the requested one (only when requested); charge balanced; novel (only when given).

Valid answer (:func:`valid_answer`): ``El El ... <sgN>`` text of real element symbols with
a space group in 1-230, or a CIF pymatgen builds a non-empty structure from, whatever
its elements, charge or space group (those are what the reward scores); no chance top-1
(answers are open-ended).

Charge balance is SMACT's with a strict oxidation-state set by default (``icsd24_medium``:
SrTiO8, YO2 and NaCl3 fail, as they must; see :mod:`mist_pl.chem.charge_balance` for what
else it rejects, mixed-valence compounds such as Fe3O4 included). The optional columns
``oxidation_states`` (a set name) and ``mixed_valence`` (bool) choose otherwise; set them
for a whole run with the prompt data module's ``columns`` or the build's
``--oxidation-states`` / ``--mixed-valence``. A bad value fails at start-up
(:func:`check_settings`).

Example columns: ``elements`` (list of symbols), ``space_group`` (int or None), and
optionally ``known_compositions`` (a set of formulas or
:class:`~mist_pl.tasks.material_checks.KnownCompositions`, shared by all rows),
``oxidation_states`` and ``mixed_valence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.tasks.answer import format_reward, parse_completion
from mist_pl.tasks.examples import Examples, origin
from mist_pl.tasks.material_answer import cif_text, parse_material_text
from mist_pl.tasks.material_checks import (
    ChargeSettings,
    as_known,
    charge_balanced,
    charge_settings,
    distances_physical,
    parse_structure,
    real_elements,
    reduced_formula,
    space_group_number,
    structure_counts,
)
from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.material_checks import KnownCompositions
from mist_pl.tasks.prompts import answer_instructions
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.space_groups import N_SPACE_GROUPS, number_of_symbol

TEXT_WEIGHTS = {
    "format": 0.10,
    "space_group_valid": 0.10,
    "space_group_match": 0.10,
    "element_precision": 0.15,
    "element_recall": 0.15,
    "composition_parses": 0.10,
    "charge_balanced": 0.20,
    "novel": 0.10,
}
CIF_WEIGHTS = {
    "cif_parses": 0.20,
    "element_precision": 0.15,
    "element_recall": 0.15,
    "distances_physical": 0.20,
    "space_group_match": 0.10,
    "charge_balanced": 0.10,
    "novel": 0.10,
}
# Checks that only apply when the example provides what they compare against.
_NEEDS_REQUESTED_SPACE_GROUP = "space_group_match"
_NEEDS_KNOWN_SET = "novel"
# Checks of the answer's own chemistry, true of many materials whatever was asked: they
# count only as far as the answer is made of the requested elements (the element F1).
# Without the gate, RL on the demo's tiny model learned within 30 steps to answer
# "Cu <sg194>" to every request: parseable, a valid space group and charge balanced
# (an element is neutral) earned half the reward while ignoring the question.
GATED_BY_ELEMENTS = frozenset(
    {"space_group_valid", "space_group_match", "composition_parses", "charge_balanced", "novel", "cif_parses",
     "distances_physical"}
)

NAME = "cond_mat_gen"


def _requested(example: Mapping[str, Any]) -> tuple[set[str], int | None] | None:
    elements = example.get("elements")
    if isinstance(elements, str):
        elements = elements.replace(",", " ").split()
    if not isinstance(elements, (list, tuple, set, frozenset)) or not elements:
        return None
    space_group = example.get("space_group")
    if space_group is not None:
        try:
            space_group = int(space_group)
        except (TypeError, ValueError, OverflowError):  # None-like, NaN, inf, junk
            space_group = None
    return {str(e).strip() for e in elements}, space_group


def _precision_recall(given: set[str], wanted: set[str]) -> tuple[float, float]:
    hits = len(given & wanted)
    return (hits / len(given) if given else 0.0), (hits / len(wanted) if wanted else 0.0)


def _novel(counts: Mapping[str, float], known: Any) -> float:
    formula = reduced_formula(counts)
    return 1.0 if formula is not None and formula not in known else 0.0


def check_text(answer: str, wanted: set[str], space_group: int | None, known: Any,
               charge: ChargeSettings = ChargeSettings()) -> dict[str, float] | None:
    """Scores (0..1) per check for an ``El El ... <sgN>`` answer; None if not that format."""
    parsed = parse_material_text(answer)
    if parsed is None:
        return None
    precision, recall = _precision_recall(set(parsed.counts), wanted)
    parses = real_elements(parsed.counts)
    scores = {
        "format": 1.0,
        "space_group_valid": float(parsed.space_group is not None and 1 <= parsed.space_group <= N_SPACE_GROUPS),
        "element_precision": precision,
        "element_recall": recall,
        "composition_parses": float(parses),
        "charge_balanced": float(parses and charge_balanced(parsed.counts, charge)),
    }
    if space_group is not None:
        scores["space_group_match"] = float(parsed.space_group == space_group)
    if known is not None:
        scores["novel"] = _novel(parsed.counts, known) if parses else 0.0
    return scores


def check_cif(cif: str, wanted: set[str], space_group: int | None, known: Any,
              charge: ChargeSettings = ChargeSettings()) -> dict[str, float]:
    """Scores (0..1) per check for a CIF answer."""
    structure = parse_structure(cif)
    counts = structure_counts(structure) if structure is not None else None
    scores = dict.fromkeys(CIF_WEIGHTS, 0.0)
    if structure is not None and counts:
        precision, recall = _precision_recall(set(counts), wanted)
        scores.update(
            cif_parses=1.0,
            element_precision=precision,
            element_recall=recall,
            distances_physical=float(distances_physical(structure)),
            charge_balanced=float(charge_balanced(counts, charge)),
        )
        if space_group is not None:
            scores["space_group_match"] = float(space_group_number(structure) == space_group)
        if known is not None:
            scores["novel"] = _novel(counts, known)
    if space_group is None:
        scores.pop(_NEEDS_REQUESTED_SPACE_GROUP)
    if known is None:
        scores.pop(_NEEDS_KNOWN_SET)
    return scores


def check_answer(answer: str | None, example: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]] | None:
    """``(scores, weights)`` for an answer, or None if the example cannot be scored.
    Empty scores mean the answer is in neither format."""
    request = _requested(example)
    if request is None:
        return None
    wanted, space_group = request
    known = as_known(example.get("known_compositions"))
    charge = charge_settings(example)
    cif = cif_text(answer)
    if cif is not None:
        return check_cif(cif, wanted, space_group, known, charge), CIF_WEIGHTS
    scores = check_text(answer, wanted, space_group, known, charge) if answer is not None else None
    return (scores or {}), TEXT_WEIGHTS


def element_f1(scores: Mapping[str, float]) -> float:
    """Harmonic mean of element precision and recall (0 when either is 0)."""
    precision, recall = scores.get("element_precision", 0.0), scores.get("element_recall", 0.0)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score_cond_mat_gen(completion: Any, example: Mapping[str, Any]) -> float | None:
    checked = check_answer(parse_completion(completion).answer, example)
    if checked is None:
        return None
    scores, weights = checked
    if not scores:
        return 0.0
    gate = element_f1(scores)
    total_weight = sum(weights[name] for name in scores)
    earned = sum(weights[name] * value * (gate if name in GATED_BY_ELEMENTS else 1.0) for name, value in scores.items())
    return earned / total_weight


cond_mat_gen_reward = per_example(score_cond_mat_gen, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    """Success: every applicable check except novelty passes fully."""
    checked = check_answer(parse_completion(completion).answer, example)
    if checked is None or not checked[0]:
        return False
    return all(value == 1.0 for name, value in checked[0].items() if name != _NEEDS_KNOWN_SET)


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer is a material the reward can score, right or wrong: a CIF that
    parses into a structure with atoms (a CIF-looking answer is judged as a CIF only, as
    :func:`check_answer` does), else ``El El ... <sgN>`` text :func:`parse_material_text`
    reads with real element symbols and a space group tag in 1-230. Whether the elements
    are the requested ones, and charge balance, are not checked; the example is not
    consulted."""
    answer = parse_completion(completion).answer
    if answer is None:
        return False
    cif = cif_text(answer)
    if cif is not None:
        structure = parse_structure(cif)
        return structure is not None and bool(structure_counts(structure))
    material = parse_material_text(answer)
    return (material is not None and material.space_group is not None
            and 1 <= material.space_group <= N_SPACE_GROUPS and real_elements(material.counts))


def build_prompt(example: Mapping[str, Any]) -> str:
    elements = " ".join(sorted(example["elements"])) if not isinstance(example["elements"], str) else example["elements"]
    space_group = example.get("space_group")
    request = f"containing exactly the elements {elements}"
    if space_group is not None:
        request += f" in space group number {int(space_group)}"
    return (
        f"Propose a stable, charge-balanced inorganic crystal {request}.\n"
        "Write its unit cell as element symbols, one per atom, followed by the space group "
        "tag <sgN> (N = space group number), or give a CIF.\n"
        + answer_instructions("the composition with its space group tag, or the CIF", "El El El <sgN>")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Requests built from a serialized-crystal file (``crystalrelax_tiny`` format: records
    separated by blank lines, starting ``serialized_cif formula El N_int ...`` and
    ``space_group_symbol <symbol>_sg``). ``answer`` holds the record's formula."""
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


def check_settings(example: Mapping[str, Any]) -> None:
    """Raise ValueError naming a bad ``oxidation_states`` / ``mixed_valence`` of an example."""
    charge_settings(example)


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(cond_mat_gen_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="element set (+ space group) -> 'El El ... <sgN>' or a CIF",
        valid=valid_answer,
        check_example=check_settings,
    )
)


def known_compositions(examples: list[dict]) -> Any:
    """The reduced formulas of some examples' reference answers (e.g. the training split),
    ready to pass as the shared ``known_compositions`` column."""
    return KnownCompositions(e["answer"] for e in examples if e.get("answer"))
