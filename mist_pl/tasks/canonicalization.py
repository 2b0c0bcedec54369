"""SMILES canonicalization: any SMILES of a molecule -> its RDKit canonical SMILES.

Reward (:func:`canonicalization_reward`), against the canonical form of the input:

* ``EXACT`` (1.0) when the answer string equals it character for character;
* ``SAME_MOLECULE`` (0.5) for a different string of the same molecule;
* ``WRONG_MOLECULE`` (0.0) for a valid SMILES of another molecule;
* ``INVALID`` (-1.0) for an unparseable answer or none.

"Canonical" means this RDKit's canonical SMILES: computed at scoring time, so it
always agrees with the installed RDKit.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, i.e. every answer the
reward does not score ``INVALID``; no chance top-1 (answers are open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.answer import format_reward, parse_completion
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.prompts import answer_instructions
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.smiles_answer import canonical_answer, canonical_gold, smiles_text

EXACT = 1.0
SAME_MOLECULE = 0.5
WRONG_MOLECULE = 0.0
INVALID = -1.0

NAME = "canonicalization"


def score_canonicalization(completion: Any, example: Mapping[str, Any]) -> float | None:
    source = example.get("smiles")
    gold = canonical_gold(source) if isinstance(source, str) else None
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


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer is a SMILES RDKit reads (bare or in the wrappers
    :func:`~mist_pl.tasks.smiles_answer.smiles_text` accepts), right or wrong; the example
    is not consulted."""
    return canonical_answer(parse_completion(completion).answer) is not None


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


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(canonicalization_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="SMILES -> canonical SMILES",
        valid=valid_answer,
    )
)
