"""IUPAC name -> SMILES (I2S).

Reward (:func:`iupac_to_smiles_reward`):

* ``EXACT`` (1.0) when the answer is the gold molecule (RDKit canonical SMILES match);
* ``PARTIAL_SCALE * tanimoto`` for any other valid molecule, in ``[0, 0.5]``:
  Tanimoto similarity of Morgan fingerprints (as computed by
  :func:`mist_pl.chem.smiles.tanimoto`) to the gold. The scale keeps a near miss
  (stereoisomers share a fingerprint: Tanimoto 1) clearly below an exact answer;
* ``INVALID`` (-1.0) for an unparseable answer or none.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, i.e. every answer the
reward does not score ``INVALID``; no chance top-1 (answers are open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.chem import smiles as chem_smiles
from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.answer import format_reward, parse_completion
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.prompts import answer_instructions
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.smiles_answer import canonical_answer, canonical_gold

EXACT = 1.0
PARTIAL_SCALE = 0.5
INVALID = -1.0
MAX_NAME_CHARS = 1_000  # longer names are not worth a prompt; the loader drops them

NAME = "iupac_to_smiles"


def score_iupac_to_smiles(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = example.get("answer")
    gold = canonical_gold(gold) if isinstance(gold, str) else None
    if gold is None:
        return None
    predicted = canonical_answer(parse_completion(completion).answer)
    if predicted is None:
        return INVALID
    if predicted == gold:
        return EXACT
    similarity = chem_smiles.tanimoto(predicted, gold)
    return PARTIAL_SCALE * max(0.0, min(1.0, similarity)) if similarity is not None else 0.0


iupac_to_smiles_reward = per_example(score_iupac_to_smiles, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_iupac_to_smiles(completion, example) == EXACT


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer is a SMILES RDKit reads (bare or in the wrappers
    :func:`~mist_pl.tasks.smiles_answer.smiles_text` accepts), right or wrong; the example
    is not consulted."""
    return canonical_answer(parse_completion(completion).answer) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        f"Write the SMILES of the compound with this IUPAC name:\n{example['name']}\n"
        + answer_instructions("the SMILES string only", "SMILES")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Examples from a PubChem CSV (columns ``IUPAC`` and ``SMILES``); rows with a gold
    SMILES RDKit cannot read are skipped and recorded."""
    examples = Examples()
    for where, row in read_csv_rows(path, ["IUPAC", "SMILES"], examples):
        if len(row["IUPAC"]) > MAX_NAME_CHARS:
            examples.skip(where, "IUPAC name too long")
        elif canonical_gold(row["SMILES"]) is None:
            examples.skip(where, f"gold SMILES is not valid: {row['SMILES'][:60]!r}")
        else:
            examples.append({"name": row["IUPAC"], "answer": row["SMILES"], "origin": where})
    return examples.report(f"iupac_to_smiles {path}")


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(iupac_to_smiles_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="IUPAC name -> SMILES",
        valid=valid_answer,
    )
)
