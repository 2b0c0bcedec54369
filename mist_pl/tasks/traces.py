"""SFT completions whose reasoning is computed from the chemistry, not canned.

Every builder takes an example (as the task loaders and the build make them) and
returns ``<think>...</think><answer>...</answer>`` whose answer is the gold one in the
task's required format, or None when the example does not allow a trace (counted by
the build). What the reasoning states:

* reaction naming / prediction: heavy-atom bond changes by
  element pair (from the atom maps when the example has ``mapped_reaction``, else net
  bond-type count differences), functional groups formed and consumed;
* multiple choice / true-false: per reaction, the product's formula, elements the
  reactants cannot supply, heavy-atom balance, and the product's closest reactant
  (Morgan Tanimoto);
* IUPAC name -> SMILES and canonicalization: formula, heavy atoms, rings, groups;
* materials: oxidation states (pymatgen's guess), the cell's total charge, SMACT's
  verdict, the space group.

Use :func:`sft_completion`; :data:`TRACES` maps task names to builders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from mist_pl.chem.crystal_limits import quiet_pymatgen
from mist_pl.chem.crystals import as_composition
from mist_pl.chem.describe import molecule_facts
from mist_pl.chem.reaction_changes import bond_changes, bond_count_changes, functional_group_changes, main_product, mapped_roles
from mist_pl.chem.reactions import parse_reaction
from mist_pl.chem.smiles import parse, tanimoto
from mist_pl.tasks.answer import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from mist_pl.tasks.choices import LETTERS, choice_letter, true_false
from mist_pl.tasks.material_checks import charge_balanced, charge_settings
from mist_pl.tasks.rxn_naming import answer_class
from mist_pl.tasks.smiles_answer import canonical_gold

MAX_LISTED = 6  # groups / bonds named per line: enough to explain, short enough to train on


def wrap(think: str, answer: str) -> str:
    return f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def _listing(counts: Counter, none: str = "none") -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LISTED]
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in items) or none


def _molecule_line(smiles: str) -> str | None:
    mol = parse(smiles)
    if mol is None:
        return None
    facts = molecule_facts(mol)
    groups = ", ".join(facts.functional_groups) or "no common functional group"
    return (
        f"formula {facts.formula}, {facts.heavy_atoms} heavy atoms, {facts.rings} ring(s) "
        f"({facts.aromatic_rings} aromatic); groups: {groups}"
    )


# --- reactions -------------------------------------------------------------------


def _sides(example: Mapping[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """(molecules that react, main product) from ``mapped_reaction`` or ``reaction``."""
    mapped = example.get("mapped_reaction")
    roles = mapped_roles(mapped) if isinstance(mapped, str) else None
    if roles is not None:
        product = main_product(roles.products)
        return (roles.reactants, product) if product else None
    text = example.get("reaction") or (f"{example.get('reactants', '')}>>{example.get('answer', '')}")
    parsed = parse_reaction(text)
    if parsed is None:
        return None
    product = main_product(parsed.products)
    return (parsed.reactants + parsed.agents, product) if product else None


def reaction_change_lines(example: Mapping[str, Any], echo_molecules: bool = False) -> list[str] | None:
    """The computed facts about what a reaction changes (see the module docstring).

    ``echo_molecules`` adds a first line restating the reactant and product SMILES. Off by
    default: it is pure copying of the prompt (a median 77 of 145 SmolLM2 tokens of a
    reaction-naming trace) and teaches nothing a model can use to decide."""
    sides = _sides(example)
    if sides is None:
        return None
    reactants, product = sides
    mapped = example.get("mapped_reaction")
    changes = bond_changes(mapped) if isinstance(mapped, str) else None
    how = "from the atom mapping"
    if changes is None:
        changes, how = bond_count_changes(reactants, [product]), "from bond-type counts"
    appeared, disappeared = functional_group_changes(reactants, [product])
    lines = []
    if echo_molecules:
        lines.append(f"Reacting molecules: {'; '.join(reactants)}. Product: {product}.")
    lines.append(f"Bonds formed ({how}): {_listing(changes.formed)}. Bonds broken: {_listing(changes.broken)}.")
    if changes.order_changed:
        lines.append(f"Bond orders changed: {_listing(changes.order_changed)}.")
    lines.append(f"Functional groups formed: {_listing(appeared)}. Consumed: {_listing(disappeared)}.")
    return lines


def rxn_naming_trace(example: Mapping[str, Any]) -> str | None:
    gold = answer_class(example.get("answer"))
    lines = reaction_change_lines(example)
    if gold is None or lines is None:
        return None
    lines.append(f"These changes are characteristic of the class {gold}.")
    return wrap("\n".join(lines), gold)


def rxn_prediction_trace(example: Mapping[str, Any]) -> str | None:
    gold = canonical_gold(example.get("answer", "")) if isinstance(example.get("answer"), str) else None
    lines = reaction_change_lines(example)
    product_line = _molecule_line(gold) if gold else None
    if gold is None or lines is None or product_line is None:
        return None
    lines.append(f"The product: {product_line}.")
    return wrap("\n".join(lines), gold)


def _reaction_checks(reaction: str) -> str:
    """One line of facts about a candidate reaction (never raises on junk)."""
    from rdkit.Chem import rdMolDescriptors

    parsed = parse_reaction(reaction)
    product = main_product(parsed.products) if parsed is not None else None
    if parsed is None or product is None:
        return "not a valid reaction SMILES"
    reactants = parsed.reactants + parsed.agents
    supplied: set[str] = set()
    heavy_in = 0
    for smiles in reactants:
        mol = parse(smiles)
        supplied |= {a.GetSymbol() for a in mol.GetAtoms()}
        heavy_in += mol.GetNumHeavyAtoms()
    product_mol = parse(product)
    missing = sorted({a.GetSymbol() for a in product_mol.GetAtoms()} - supplied)
    heavy_out = product_mol.GetNumHeavyAtoms()
    similarity = max((tanimoto(product, r) or 0.0 for r in reactants), default=0.0)
    facts = [f"product {rdMolDescriptors.CalcMolFormula(product_mol)}"]
    facts.append(f"elements no reactant supplies: {', '.join(missing)}" if missing else "every product element is supplied")
    facts.append(f"heavy atoms {heavy_in} in, {heavy_out} in the product" + (" (more out than in)" if heavy_out > heavy_in else ""))
    facts.append(f"closest reactant similarity {similarity:.2f}")
    return "; ".join(facts)


def rxn_mcq_trace(example: Mapping[str, Any]) -> str | None:
    options = example.get("options")
    if not isinstance(options, (list, tuple)) or not options:
        return None
    letter = choice_letter(example.get("answer"), len(options))
    if letter is None:
        return None
    lines = [f"{LETTERS[i]}) {_reaction_checks(option)}." for i, option in enumerate(options)]
    lines.append(f"The checks best support option {letter} as the real reaction.")
    return wrap("\n".join(lines), letter)


def rxn_true_false_trace(example: Mapping[str, Any]) -> str | None:
    label = example.get("answer")
    label = label if isinstance(label, bool) else true_false(label) if isinstance(label, str) else None
    reaction = example.get("reaction")
    if label is None or not isinstance(reaction, str):
        return None
    verdict = "consistent with a real reaction" if label else "not a real, correctly written reaction"
    think = f"Checks: {_reaction_checks(reaction)}.\nJudged {verdict}."
    return wrap(think, "true" if label else "false")


# --- molecules -------------------------------------------------------------------


def iupac_to_smiles_trace(example: Mapping[str, Any]) -> str | None:
    answer = example.get("answer")
    gold = canonical_gold(answer) if isinstance(answer, str) else None
    line = _molecule_line(gold) if gold else None
    if line is None:
        return None
    return wrap(f"The name describes a molecule with {line}.", gold)


def canonicalization_trace(example: Mapping[str, Any]) -> str | None:
    source = example.get("smiles")
    gold = canonical_gold(source) if isinstance(source, str) else None
    line = _molecule_line(gold) if gold else None
    if line is None:
        return None
    think = f"The input parses to one molecule: {line}. Written in RDKit's canonical atom order it is the answer."
    return wrap(think, gold)


# --- materials -------------------------------------------------------------------


def _cell_counts(formula: str) -> dict[str, int] | None:
    composition = as_composition(formula)
    if composition is None or len(composition) == 0:
        return None
    counts = {el.symbol: n for el, n in composition.element_composition.items()}
    if any(abs(n - round(n)) > 1e-6 or n < 1 for n in counts.values()):
        return None
    return {el: int(round(n)) for el, n in counts.items()}


def _oxidation_states(counts: Mapping[str, int]) -> dict[str, float] | None:
    from pymatgen.core import Composition

    with quiet_pymatgen():
        try:
            guesses = Composition(dict(counts)).reduced_composition.oxi_state_guesses()
        except Exception:
            return None
    return dict(guesses[0]) if guesses else None


def cond_mat_gen_trace(example: Mapping[str, Any]) -> str | None:
    space_group = example.get("space_group")
    counts = _cell_counts(example.get("answer", "")) if isinstance(example.get("answer"), str) else None
    if counts is None or space_group is None or not charge_balanced(counts, charge_settings(example)):
        return None  # the reward needs a space group and charge balance: no correct answer to show
    order = sorted(counts)
    cell = " ".join(f"{el}{counts[el]}" for el in order)
    lines = [f"Requested elements: {', '.join(sorted(example.get('elements') or order))}; space group {int(space_group)}.", f"Cell: {cell}."]
    states = _oxidation_states(counts)
    if states:
        terms = " + ".join(f"{counts[el]}x({states[el]:+g})" for el in order if el in states)
        total = sum(counts[el] * states[el] for el in order if el in states)
        lines.append(f"Likely oxidation states: {', '.join(f'{el} {states[el]:+g}' for el in order if el in states)}; charge {terms} = {total:g}.")
    lines.append("SMACT finds a charge-neutral assignment, so the composition is charge balanced.")
    answer = " ".join(el for el in order for _ in range(counts[el])) + f" <sg{int(space_group)}>"
    return wrap("\n".join(lines), answer)


TRACES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "rxn_naming": rxn_naming_trace,
    "rxn_prediction": rxn_prediction_trace,
    "rxn_mcq": rxn_mcq_trace,
    "rxn_true_false": rxn_true_false_trace,
    "iupac_to_smiles": iupac_to_smiles_trace,
    "canonicalization": canonicalization_trace,
    "cond_mat_gen": cond_mat_gen_trace,
}


def sft_completion(task: str, example: Mapping[str, Any]) -> str | None:
    """The SFT completion for ``example`` of ``task`` (None if no trace can be made)."""
    try:
        builder = TRACES[task]
    except KeyError:
        raise KeyError(f"no SFT trace builder for task {task!r}; known: {sorted(TRACES)}") from None
    return builder(example)
