"""SMILES canonicalization: any SMILES of a molecule -> its RDKit canonical SMILES.

Reward (:func:`canonicalization_reward`), against the canonical form of the input:

* ``EXACT`` (1.0) when the answer string equals it character for character;
* ``SAME_MOLECULE`` (0.5) for a different string of the same molecule;
* ``WRONG_MOLECULE`` (0.0) for a valid SMILES of another molecule;
* ``INVALID`` (-1.0) for an unparseable answer or none.

"Canonical" means this RDKit's canonical SMILES: computed at scoring time, so it
always agrees with the installed RDKit.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, the check every SMILES task
shares (:func:`~mist_pl.tasks.answer.valid_smiles_answer`); no chance top-1 (open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.chem.smiles import canonicalize
from mist_pl.runtime.protocol import per_example
from mist_pl.shipped import MIST_DEMO
from mist_pl.tasks.answer import (
    answer_instructions,
    canonical_answer,
    canonical_gold,
    format_reward,
    parse_completion,
    smiles_text,
    valid_smiles_answer,
)
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import answer_molecule_key
from mist_pl.tasks.traces import molecule_line, wrap

EXACT = 1.0
SAME_MOLECULE = 0.5
WRONG_MOLECULE = 0.0
INVALID = -1.0

NAME = "canonicalization"


def score_canonicalization(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = canonical_gold(example.get("smiles"))
    if gold is None:
        return None
    answer = parse_completion(completion).answer
    predicted = canonical_answer(answer)
    if predicted is None:
        return INVALID
    if smiles_text(answer) == gold:
        return EXACT
    return SAME_MOLECULE if predicted == gold else WRONG_MOLECULE


canonicalization_reward = per_example(score_canonicalization, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_canonicalization(completion, example) == EXACT


valid_answer = valid_smiles_answer  # any SMILES RDKit reads, right or wrong


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        f"Rewrite this SMILES as its canonical SMILES (RDKit convention):\n{example['smiles']}\n"
        + answer_instructions("the canonical SMILES only", "SMILES")
    )


# Input columns, most informative first: randomized variants, explicit-H forms, plain.
_VARIANT_COLUMNS = tuple(f"SMILES_variant{i}" for i in range(1, 5))


def _inputs(row: Mapping[str, str]) -> list[str]:
    variants = [row[c] for c in _VARIANT_COLUMNS if row.get(c)]
    if variants:
        return variants
    if row.get("SMILES_Hs"):
        return [row["SMILES_Hs"]]
    return [row["SMILES"]]


def load_examples(path: Path | str) -> list[dict]:
    """Examples from a PubChem CSV: one per ``SMILES_variant1..4`` column if present,
    else from ``SMILES_Hs`` (explicit hydrogens), else from ``SMILES``. The gold answer
    is computed at scoring time; ``answer`` holds it for reference (SFT targets)."""
    examples = Examples()
    for where, row in read_csv_rows(path, ["SMILES"], examples):
        for source in _inputs(row):
            gold = canonical_gold(source)
            if gold is None:
                examples.skip(where, f"input SMILES is not valid: {source[:60]!r}")
            else:
                examples.append({"smiles": source, "answer": gold, "origin": where})
    return examples.report(f"canonicalization {path}")


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The canonical molecule and the input spelling: each distinct spelling of a molecule
    is kept (the task is to map spellings to one form; they share a split key, so none
    leaks)."""
    answer = canonicalize(example.get("answer") or example.get("smiles"))
    return f"{answer}|{example.get('smiles')}" if answer else None


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """The computed facts of the input's molecule, then its canonical SMILES."""
    gold = canonical_gold(example.get("smiles"))
    line = molecule_line(gold) if gold else None
    if line is None:
        return None
    think = f"The input parses to one molecule: {line}. Written in RDKit's canonical atom order it is the answer."
    return wrap(think, gold)


SAMPLE = "pubchem/CRLLM-PubChem-compounds1M.sample.csv"  # the mist-demo fixture

TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(canonicalization_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="SMILES -> canonical SMILES",
        valid=valid_answer,
        # The input is often canonical already. (RDKit itself is a rule that solves every
        # example: the gold answers are its output.)
        baselines={"copy_request": lambda examples: [e.get("smiles") for e in examples]},
        split_key=answer_molecule_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        fixture_examples=mist_demo_files(load_examples, SAMPLE, "pubchem/CRLLM-PubChem-compounds1M_hydrogen.sample.csv"),
        # RDKit's shipped molecules + ORD compounds, as written and as seeded random SMILES
        raw_examples="mist_pl.tasks.sources.raw_examples:canonicalization_examples",
        example_file=MIST_DEMO / SAMPLE,
    )
)
