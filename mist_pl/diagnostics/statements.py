"""True vs corrupted chemical statements for CCS, built from the tasks' example files.

Three kinds, each a fixed template whose scored span is the fact being tested:

* ``reaction`` -- "Reactants: [START_SMILES]<reactants>[END_SMILES] Product:
  [START_SMILES]<product>" with the real product vs the product of another reaction
  (from the forward-prediction ``src-/tgt-`` files, a true/false CSV's true rows, a
  multiple-choice CSV's true reactions or a reaction-class CSV);
* ``name`` -- "The SMILES of <IUPAC name> is [START_SMILES]<smiles>" with the real
  SMILES vs another molecule's (PubChem CSVs with ``IUPAC`` and ``SMILES`` columns);
* ``space_group`` -- "The crystal structure of <formula> has space group number <N>"
  with the real number vs another record's (serialized-crystal ``.txt`` records).

The wrong value is drawn, per statement, by ``random.Random(f"{seed}\\0{kind}\\0{key}")``
among the other statements' values that differ from the true one (as canonical SMILES
for molecules), so a file and a seed always give the same statements. A statement
whose kind has no differing value anywhere else is skipped and counted.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mist_pl.chem.smiles import canonicalize
from mist_pl.diagnostics.paired import Pair
from mist_pl.shipped import mist_demo_file
from mist_pl.tasks.answer import LETTERS
from mist_pl.tasks.registry import get_task

REACTION, NAME, SPACE_GROUP = "reaction", "name", "space_group"
KINDS = (REACTION, NAME, SPACE_GROUP)


@dataclass(frozen=True)
class Fact:
    """One true fact before a wrong value is attached: ``prefix + value`` is true."""

    kind: str
    prefix: str
    value: str
    origin: str
    key: str  # identity of the value (canonical SMILES, number) for "is it different?"


@dataclass(frozen=True)
class Statement:
    fact: Fact
    wrong_value: str

    def pair(self) -> Pair:
        return Pair(self.fact.prefix, self.fact.value, self.wrong_value)


def reaction_fact(reactants: str, product: str, origin: str) -> Fact | None:
    key = canonicalize(product)
    if key is None or not reactants:
        return None
    prefix = f"Reactants: [START_SMILES]{reactants}[END_SMILES] Product: [START_SMILES]"
    return Fact(REACTION, prefix, product, origin, key)


def name_fact(name: str, smiles: str, origin: str) -> Fact | None:
    key = canonicalize(smiles)
    if key is None or not name:
        return None
    return Fact(NAME, f"The SMILES of {name} is [START_SMILES]", smiles, origin, key)


def readable_formula(formula: str) -> str:
    """"Na1Cl1" (the crystal loader's form) -> "NaCl": unit counts are not written."""
    return re.sub(r"(?<=[A-Za-z])1(?![0-9])", "", formula)


def space_group_fact(formula: str, space_group: int, origin: str) -> Fact:
    formula = readable_formula(formula)
    # The number is a space-led word: joint and separate tokenization agree on it.
    prefix = f"The crystal structure of {formula} has space group number"
    return Fact(SPACE_GROUP, prefix, f" {space_group}", origin, str(space_group))


# -- reading facts from the tasks' files ----------------------------------------------


def _split_reaction(reaction: str) -> tuple[str, str] | None:
    if ">>" in reaction:
        reactants, products = reaction.split(">>", 1)
    else:
        parts = reaction.split(">")
        if len(parts) != 3:
            return None
        reactants, products = parts[0], parts[2]
    return (reactants, products) if reactants and products else None


def _facts_from_reactions(reactions: Iterable[tuple[str, str]]) -> list[Fact]:
    facts = []
    for reaction, origin in reactions:
        sides = _split_reaction(reaction)
        fact = reaction_fact(*sides, origin) if sides else None
        if fact is not None:
            facts.append(fact)
    return facts


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), [])


def facts_from_file(path: str | Path) -> list[Fact]:
    """Facts from one task file, its kind recognized from the name and header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CCS data file {path} does not exist")
    if path.suffix.lower() == ".txt":
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
        if first.startswith("serialized_cif"):
            examples = get_task("cond_mat_gen").load_examples(path)
            return [space_group_fact(e["answer"], e["space_group"], e["origin"]) for e in examples if e.get("space_group")]
        examples = get_task("rxn_prediction").load_examples(path)
        return [f for e in examples if (f := reaction_fact(e["reactants"], e["answer"], e["origin"]))]
    header = _header(path)
    if "IUPAC" in header:
        examples = get_task("iupac_to_smiles").load_examples(path)
        return [f for e in examples if (f := name_fact(e["name"], e["answer"], e["origin"]))]
    if "true_reaction" in header:
        examples = get_task("rxn_mcq").load_examples(path)

        return _facts_from_reactions((e["options"][LETTERS.index(e["answer"])], e["origin"]) for e in examples)
    if "label" in header and "reaction" in header:
        examples = get_task("rxn_true_false").load_examples(path)
        return _facts_from_reactions((e["reaction"], e["origin"]) for e in examples if e["answer"] == "true")
    examples = get_task("rxn_naming").load_examples(path)  # raises on an unknown header
    return _facts_from_reactions((e["reaction"], e["origin"]) for e in examples)


def dedupe(facts: Iterable[Fact]) -> list[Fact]:
    """One fact per (kind, prefix, value): the demo files repeat rows."""
    seen, out = set(), []
    for fact in facts:
        identity = (fact.kind, fact.prefix, fact.key)
        if identity not in seen:
            seen.add(identity)
            out.append(fact)
    return out


def attach_wrong_values(facts: Sequence[Fact], seed: int = 0) -> tuple[list[Statement], list[Fact]]:
    """(statements, facts without any differing value of their kind)."""
    by_kind: dict[str, dict[str, str]] = {}
    for fact in facts:
        by_kind.setdefault(fact.kind, {}).setdefault(fact.key, fact.value)  # key -> one spelling
    statements, unmatched = [], []
    for fact in facts:
        candidates = sorted(k for k in by_kind[fact.kind] if k != fact.key)
        if not candidates:
            unmatched.append(fact)
            continue
        rng = random.Random(f"{seed}\0{fact.kind}\0{fact.prefix}\0{fact.key}")
        statements.append(Statement(fact, by_kind[fact.kind][rng.choice(candidates)]))
    return statements, unmatched


def default_ccs_files() -> list[Path]:
    """The task files shipped inside the package (names and reactions; no crystals)."""
    names = ("pubchem/CRLLM-PubChem-compounds1M.sample.csv", "reactions/rxn_truefalse_sample.csv",
             "reactions/rxn_inversion_sample.csv")
    return [mist_demo_file(n) for n in names]


def load_facts(paths: Sequence[str | Path], limit: int | None = None) -> list[Fact]:
    """Deduplicated facts from every file, at most ``limit`` per file."""
    facts: list[Fact] = []
    for path in paths:
        facts.extend(dedupe(facts_from_file(path))[:limit])
    return dedupe(facts)
