"""IUPAC name -> SMILES (I2S).

Reward (:func:`iupac_to_smiles_reward`):

* ``EXACT`` (1.0) when the answer is the gold molecule (RDKit canonical SMILES match);
* ``PARTIAL_SCALE * tanimoto`` for any other valid molecule, in ``[0, 0.5]``:
  Tanimoto similarity of Morgan fingerprints (as computed by
  :func:`mist_pl.chem.smiles.tanimoto`) to the gold. The scale keeps a near miss
  (stereoisomers share a fingerprint: Tanimoto 1) clearly below an exact answer;
* ``INVALID`` (-1.0) for an unparseable answer or none.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, the check every SMILES task
shares (:func:`~mist_pl.tasks.answer.valid_smiles_answer`); no chance top-1 (open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.chem import smiles as chem_smiles
from mist_pl.chem.opsin import clean_name, opsin_available, opsin_smiles
from mist_pl.runtime.protocol import per_example
from mist_pl.shipped import MIST_DEMO
from mist_pl.tasks.answer import answer_instructions, answer_smiles, canonical_gold, format_reward, valid_smiles_answer
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import answer_molecule_key
from mist_pl.tasks.traces import molecule_line, wrap

EXACT = 1.0
PARTIAL_SCALE = 0.5
INVALID = -1.0
MAX_NAME_CHARS = 1_000  # longer names are not worth a prompt; the loader drops them

NAME = "iupac_to_smiles"


def score_iupac_to_smiles(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = canonical_gold(example.get("answer"))
    if gold is None:
        return None
    predicted = answer_smiles(completion)
    if predicted is None:
        return INVALID
    if predicted == gold:
        return EXACT
    similarity = chem_smiles.tanimoto(predicted, gold)
    return PARTIAL_SCALE * max(0.0, min(1.0, similarity)) if similarity is not None else 0.0


iupac_to_smiles_reward = per_example(score_iupac_to_smiles, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_iupac_to_smiles(completion, example) == EXACT


valid_answer = valid_smiles_answer  # any SMILES RDKit reads, right or wrong


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


def opsin_baseline(examples) -> list[str | None]:
    """OPSIN, a rule-based name parser shipped with pyopsin (needs Java): the strongest
    no-model rule for this task. None for every example when Java is missing."""
    if opsin_available() is not None:
        return [None] * len(examples)
    names = [clean_name(e.get("name")) for e in examples]
    parsed = iter(opsin_smiles([n for n in names if n is not None]))
    return [next(parsed) if n is not None else None for n in names]


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The answer's canonical SMILES: two names of one molecule are one example."""
    return chem_smiles.canonicalize(example.get("answer"))


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """The computed facts of the named molecule, then its canonical SMILES."""
    gold = canonical_gold(example.get("answer"))
    line = molecule_line(gold) if gold else None
    if line is None:
        return None
    return wrap(f"The name describes a molecule with {line}.", gold)


SAMPLE = "pubchem/CRLLM-PubChem-compounds1M.sample.csv"  # the mist-demo fixture

TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(iupac_to_smiles_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="IUPAC name -> SMILES",
        valid=valid_answer,
        baselines={"copy_request": lambda examples: [e.get("name") for e in examples], "opsin": opsin_baseline},
        split_key=answer_molecule_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        fixture_examples=mist_demo_files(load_examples, SAMPLE, "pubchem/CRLLM-PubChem-compounds1M-very_very_simple.sample.csv"),
        # the mist-demo PubChem names + ORD name/SMILES pairs, all confirmed by OPSIN
        raw_examples="mist_pl.tasks.sources.raw_examples:iupac_to_smiles_examples",
        example_file=MIST_DEMO / SAMPLE,
    )
)
