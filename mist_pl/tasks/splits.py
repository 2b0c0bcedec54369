"""Deterministic train/validation/test splits without leakage.

Each example gets a *split key*, the thing that must not cross splits:

* reactions (rxn_naming, rxn_prediction, rxn_mcq, rxn_true_false): the canonical main
  product of the true reaction, as an InChIKey; so a product seen in training never
  appears as a test answer, under any reaction task;
* molecules (iupac_to_smiles, canonicalization): the answer's InChIKey (canonical
  SMILES where InChI fails);
* materials (cond_mat_gen): the reduced composition ("NaCl" for Na4Cl4).

The split is a pure function of the key and a salt (the build seed):
``sha256(salt, key)`` read as a number in [0, 1) against the cumulative fractions. No
random state and no dependence on the data's order or size, so the same key lands in
the same split on every run and every machine, and tasks built separately agree.

Duplicates are removed by a *dedupe key*, the example's canonical form (canonical
reaction, canonical molecule, composition plus space group); the first occurrence
wins, so put the preferred source first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from mist_pl.chem.crystals import as_composition
from mist_pl.chem.reaction_changes import main_product
from mist_pl.chem.reactions import canonicalize_reaction, parse_reaction
from mist_pl.chem.smiles import canonicalize, inchikey
from mist_pl.tasks.choices import LETTERS

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

REACTION_TASKS = ("rxn_naming", "rxn_prediction", "rxn_mcq", "rxn_true_false")
MOLECULE_TASKS = ("iupac_to_smiles", "canonicalization")
MATERIAL_TASKS = ("cond_mat_gen",)


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


def _product_of(reaction: str) -> str | None:
    parsed = parse_reaction(reaction)
    return None if parsed is None else main_product(parsed.products)


def _true_reaction(example: Mapping[str, Any]) -> str | None:
    options, letter = example.get("options"), example.get("answer")
    if not isinstance(options, (list, tuple)) or not isinstance(letter, str) or letter not in LETTERS[: len(options)]:
        return None
    return options[LETTERS.index(letter)]


def split_key(task: str, example: Mapping[str, Any]) -> str | None:
    """The leakage key of an example (see the module docstring); an explicit
    ``split_key`` field wins (a false statement built from a true reaction carries the
    true reaction's product). None when no key can be computed."""
    if isinstance(example.get("split_key"), str):
        return example["split_key"]
    if task in ("rxn_naming", "rxn_true_false"):
        product = _product_of(example.get("reaction", ""))
    elif task == "rxn_prediction":
        product = example.get("answer")
    elif task == "rxn_mcq":
        product = _product_of(_true_reaction(example) or "")
    elif task in MOLECULE_TASKS:
        return molecule_key(example.get("answer", ""))
    elif task in MATERIAL_TASKS:
        return material_key(example.get("answer", ""))
    elif task == "crystal_relax":  # the answer is a structure text; its formula is a column
        return material_key(example.get("formula", ""))
    else:
        raise ValueError(f"no split key defined for task {task!r}")
    return molecule_key(product) if isinstance(product, str) else None


def dedupe_key(task: str, example: Mapping[str, Any]) -> str | None:
    """The canonical form two duplicate examples share (None if it cannot be computed).

    canonicalization keeps each distinct input spelling of a molecule (the task is to
    map spellings to one form; they share a split key, so none leaks)."""
    if task in ("rxn_naming", "rxn_true_false"):
        canonical = canonicalize_reaction(example.get("reaction"), keep_agents=False)
        return canonical if task == "rxn_naming" else f"{canonical}|{example.get('answer')}" if canonical else None
    if task == "rxn_prediction":
        reactants = example.get("reactants", "")
        canonical = canonicalize_reaction(f"{reactants}>>{example.get('answer', '')}", keep_agents=False)
        return canonical
    if task == "rxn_mcq":
        true = _true_reaction(example)
        return canonicalize_reaction(true, keep_agents=False) if true else None
    if task == "iupac_to_smiles":
        return canonicalize(example.get("answer"))
    if task == "canonicalization":
        answer = canonicalize(example.get("answer") or example.get("smiles"))
        return f"{answer}|{example.get('smiles')}" if answer else None
    if task in MATERIAL_TASKS:
        key = material_key(example.get("answer", ""))
        return f"{key}|{example.get('space_group')}" if key else None
    if task == "crystal_relax":
        source, relaxed = example.get("structure"), example.get("answer")
        if not isinstance(source, str) or not isinstance(relaxed, str):
            return None
        return " ".join(source.split()) + "|" + " ".join(relaxed.split())
    raise ValueError(f"no dedupe key defined for task {task!r}")


def split_examples(
    task: str,
    examples: Iterable[dict],
    salt: str | int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    dropped: Any = None,
) -> dict[str, list[dict]]:
    """De-duplicate ``examples`` and assign each to a split, in input order.

    Examples without a key, and duplicates, are counted in ``dropped`` (a
    :class:`~mist_pl.tasks.data.tally.Tally`) when given. Each kept example gains
    ``split_key``."""
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    seen: set[str] = set()
    for example in examples:
        where = str(example.get("origin", ""))
        canonical = dedupe_key(task, example)
        key = split_key(task, example) if canonical is not None else None
        if canonical is None or key is None:
            if dropped is not None:
                dropped.drop("no canonical form (invalid structure)", where)
            continue
        if canonical in seen:
            if dropped is not None:
                dropped.drop("duplicate", where)
            continue
        seen.add(canonical)
        splits[assign(key, salt, fractions)].append({**example, "split_key": key})
    return splits
