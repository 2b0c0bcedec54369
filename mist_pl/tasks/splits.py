"""Deterministic train/validation/test splits without leakage.

Each example gets a *split key*, the thing that must not cross splits, from its task's
:attr:`~mist_pl.tasks.registry.Task.split_key`:

* reactions (rxn_naming, rxn_prediction, rxn_mcq, rxn_true_false): the canonical main
  product of the true reaction, as an InChIKey (:func:`product_key`,
  :func:`reaction_product_key`); so a product seen in training never appears as a test
  answer, under any reaction task;
* molecules (iupac_to_smiles, canonicalization): the answer's InChIKey (canonical
  SMILES where InChI fails; :func:`answer_molecule_key`);
* materials (cond_mat_gen): the chemical system, the sorted element set ("Cl-Na"), since
  the request is the element set: no test request is ever a training request
  (:func:`chemical_system`). Element substitutions of one parent crystal carry the
  parent as ``split_group`` and stay in one split with it (a K-Cl variant of rock salt
  next to its Na-Cl parent would leak the layout of the answer);
* crystal_relax: the reduced formula of the structure (:func:`material_key`).

The split is a pure function of the key and a salt (the build seed):
``sha256(salt, key)`` read as a number in [0, 1) against the cumulative fractions. No
random state and no dependence on the data's order or size, so the same key lands in
the same split on every run and every machine, and tasks built separately agree.
Examples that share a ``split_group`` (and, through them, every example sharing one of
their keys) form one component, which goes where its smallest key goes.

Duplicates are removed by a *dedupe key*, the example's canonical form (canonical
reaction, canonical molecule, the element set), the task's
:attr:`~mist_pl.tasks.registry.Task.dedupe_key`; the first occurrence wins, so put the
preferred source first. The keys shared by several tasks are the plain functions here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mist_pl.chem.crystals import as_composition
from mist_pl.chem.reaction_changes import main_product
from mist_pl.chem.reactions import canonicalize_reaction, parse_reaction
from mist_pl.chem.smiles import canonicalize, inchikey
from mist_pl.tasks.registry import get_task

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

KeyFn = Callable[[Mapping[str, Any]], str | None]


def unit_hash(key: str, salt: str | int = 0) -> float:
    """A number in [0, 1) fixed by ``(salt, key)``."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: str, salt: str | int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split ``key`` belongs to."""
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    point, edge = unit_hash(key, salt), 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if point < edge:
            return name
    return SPLITS[-1]


def molecule_key(smiles: str) -> str | None:
    """InChIKey of a molecule, canonical SMILES where InChI fails, None if invalid."""
    canonical = canonicalize(smiles)
    if canonical is None:
        return None
    return inchikey(canonical) or canonical


def material_key(formula: str) -> str | None:
    """Reduced composition ("Na4Cl4" -> "NaCl"), None if unreadable."""
    composition = as_composition(formula)
    return None if composition is None or len(composition) == 0 else composition.reduced_formula


def chemical_system(example: Mapping[str, Any]) -> str | None:
    """The sorted element set of a material request ("Cl-Na"), from its ``elements``, else
    from its answer's composition; None if neither is readable."""
    elements = example.get("elements")
    if isinstance(elements, (list, tuple)) and elements and all(isinstance(e, str) for e in elements):
        return "-".join(sorted(set(elements)))
    composition = as_composition(example.get("answer", ""))
    if composition is None or len(composition) == 0:
        return None
    return "-".join(sorted(el.symbol for el in composition.element_composition))


def product_key(reaction: str) -> str | None:
    """The :func:`molecule_key` of a reaction SMILES' main product; None if unreadable."""
    parsed = parse_reaction(reaction)
    product = None if parsed is None else main_product(parsed.products)
    return molecule_key(product) if isinstance(product, str) else None


def reaction_product_key(example: Mapping[str, Any]) -> str | None:
    """Split key of an example that is a reaction (``reaction`` column): its main product."""
    return product_key(example.get("reaction", ""))


def answer_molecule_key(example: Mapping[str, Any]) -> str | None:
    """Split key of an example whose answer is a molecule (``answer``, SMILES)."""
    return molecule_key(example.get("answer", ""))


def canonical_reaction(reaction: Any) -> str | None:
    """A reaction's canonical form for de-duplication, agents counted as reactants (data
    sets disagree on where reagents go); None if unreadable."""
    return canonicalize_reaction(reaction, keep_agents=False)


def _key_fns(task: str) -> tuple[KeyFn, KeyFn]:
    """The registered task's (split key, dedupe key); ValueError naming what is missing."""
    try:
        found = get_task(task)
    except KeyError:
        found = None
    if found is None or found.split_key is None:
        raise ValueError(f"no split key defined for task {task!r}")
    if found.dedupe_key is None:
        raise ValueError(f"no dedupe key defined for task {task!r}")
    return found.split_key, found.dedupe_key


def _split_key(key_fn: KeyFn, example: Mapping[str, Any]) -> str | None:
    if isinstance(example.get("split_key"), str):
        return example["split_key"]
    return key_fn(example)


def split_key(task: str, example: Mapping[str, Any]) -> str | None:
    """The leakage key of an example of ``task`` (its :attr:`Task.split_key`, see the
    module docstring); an explicit ``split_key`` field wins (a false statement built from
    a true reaction carries the true reaction's product). None when no key can be
    computed."""
    return _split_key(_key_fns(task)[0], example)


def dedupe_key(task: str, example: Mapping[str, Any]) -> str | None:
    """The canonical form two duplicate examples of ``task`` share (its
    :attr:`Task.dedupe_key`; None if it cannot be computed)."""
    return _key_fns(task)[1](example)


def split_examples(
    task: str,
    examples: Iterable[dict],
    salt: str | int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    dropped: Any = None,
) -> dict[str, list[dict]]:
    """De-duplicate ``examples`` and assign each to a split, in input order.

    Examples without a key, and duplicates, are counted in ``dropped`` (a
    :class:`~mist_pl.tasks.examples.Tally`) when given. Each kept example gains
    ``split_key``; examples joined by a ``split_group`` land together (module docstring)."""
    split_fn, dedupe_fn = _key_fns(task)
    kept: list[dict] = []
    seen: set[str] = set()
    for example in examples:
        where = str(example.get("origin", ""))
        canonical = dedupe_fn(example)
        key = _split_key(split_fn, example) if canonical is not None else None
        if canonical is None or key is None:
            if dropped is not None:
                dropped.drop("no canonical form (invalid structure)", where)
            continue
        if canonical in seen:
            if dropped is not None:
                dropped.drop("duplicate", where)
            continue
        seen.add(canonical)
        kept.append({**example, "split_key": key})
    representative = _components(kept)
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for example in kept:
        splits[assign(representative[example["split_key"]], salt, fractions)].append(example)
    return splits


def _components(examples: list[dict]) -> dict[str, str]:
    """split key -> the smallest key of its component, where keys are joined when two
    examples share a ``split_group`` (union-find; a key without a group is its own)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first_of_group: dict[str, str] = {}
    for example in examples:
        key = example["split_key"]
        root(key)
        group = example.get("split_group")
        if isinstance(group, str):
            other = first_of_group.setdefault(group, key)
            a, b = root(key), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {key: root(key) for key in parent}
