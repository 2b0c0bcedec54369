"""SFT completions whose reasoning is computed from the chemistry, not canned: the
pieces the tasks' trace builders share, and :func:`sft_completion`.

Each task's builder is its :attr:`~mist_pl.tasks.registry.Task.sft_trace`, in the task's
own module: it takes an example (as the task loaders and the build make them) and
returns ``<think>...</think><answer>...</answer>`` (:func:`wrap`) whose answer is the gold
one in the task's required format, or None when the example does not allow a trace
(counted by the build). What the reasoning states:

* reaction naming / prediction: heavy-atom bond changes by element pair (from the atom
  maps when the example has ``mapped_reaction``, else net bond-type count differences),
  functional groups formed and consumed (:func:`reaction_change_lines`);
* multiple choice / true-false: per reaction, the product's formula, elements the
  reactants cannot supply, heavy-atom balance, and the product's closest reactant
  (Morgan Tanimoto; :func:`reaction_checks`);
* IUPAC name -> SMILES and canonicalization: formula, heavy atoms, rings, groups
  (:func:`molecule_line`);
* materials: the cell, the oxidation states that balance it, the space group
  (:func:`mist_pl.tasks.cond_mat_gen.sft_trace`).

Use :func:`sft_completion` (by task name) or ``get_task(name).sft_trace``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mist_pl.chem.describe import molecule_facts
from mist_pl.chem.reaction_changes import (
    bond_changes,
    bond_count_changes,
    functional_group_changes,
    main_product,
    mapped_roles,
)
from mist_pl.chem.reactions import parse_reaction
from mist_pl.chem.smiles import parse, tanimoto
from mist_pl.tasks.answer import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from mist_pl.tasks.registry import TASKS, get_task

MAX_LISTED = 6  # groups / bonds named per line: enough to explain, short enough to train on


def wrap(think: str, answer: str) -> str:
    """``<think>think</think><answer>answer</answer>``."""
    return f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def listing(counts: Counter, none: str = "none") -> str:
    """``"C-N x2, C-O"``: the commonest few names of a counter, with their counts."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LISTED]
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in items) or none


def molecule_line(smiles: str) -> str | None:
    """One line of computed facts about a molecule (formula, heavy atoms, rings, groups)."""
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


@dataclass(frozen=True)
class ReactionChanges:
    """What a reaction changes: heavy-atom bonds by element pair and functional groups."""

    reactants: tuple[str, ...]
    product: str
    formed: Counter
    broken: Counter
    order_changed: Counter
    groups_formed: Counter
    groups_consumed: Counter
    how: str  # "from the atom mapping" or "from bond-type counts"


def reaction_changes(example: Mapping[str, Any]) -> ReactionChanges | None:
    """The computed bond and functional-group changes of a reaction example (``mapped_reaction``
    when it has one, else ``reaction``), or None when it does not parse."""
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
    return ReactionChanges(tuple(reactants), product, Counter(changes.formed), Counter(changes.broken),
                           Counter(changes.order_changed), Counter(appeared), Counter(disappeared), how)


def reaction_change_lines(example: Mapping[str, Any], echo_molecules: bool = False) -> list[str] | None:
    """The computed facts about what a reaction changes (see the module docstring).

    ``echo_molecules`` adds a first line restating the reactant and product SMILES. Off by
    default: it is pure copying of the prompt (a median 77 of 145 SmolLM2 tokens of a
    reaction-naming trace) and teaches nothing a model can use to decide."""
    changes = reaction_changes(example)
    if changes is None:
        return None
    reactants, product, how = changes.reactants, changes.product, changes.how
    appeared, disappeared = changes.groups_formed, changes.groups_consumed
    lines = []
    if echo_molecules:
        lines.append(f"Reacting molecules: {'; '.join(reactants)}. Product: {product}.")
    lines.append(f"Bonds formed ({how}): {listing(changes.formed)}. Bonds broken: {listing(changes.broken)}.")
    if changes.order_changed:
        lines.append(f"Bond orders changed: {listing(changes.order_changed)}.")
    lines.append(f"Functional groups formed: {listing(appeared)}. Consumed: {listing(disappeared)}.")
    return lines


def reaction_checks(reaction: str) -> str:
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


def sft_completion(task: str, example: Mapping[str, Any]) -> str | None:
    """The SFT completion for ``example`` of ``task`` (its :attr:`Task.sft_trace`; None if
    no trace can be made). KeyError when the task has no trace builder."""
    try:
        builder = get_task(task).sft_trace
    except KeyError:
        builder = None
    if builder is None:
        known = sorted(name for name, t in TASKS.items() if t.sft_trace is not None)
        raise KeyError(f"no SFT trace builder for task {task!r}; tasks with one: {known}")
    return builder(example)
