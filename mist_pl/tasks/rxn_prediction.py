"""Forward reaction prediction (RxP): reactants SMILES -> product SMILES.

Reward (:func:`rxn_prediction_reward`): ``CORRECT`` (+1) when the answer is the gold
product (compared as RDKit canonical SMILES, so any valid spelling counts),
``VALID_WRONG`` (-0.5) for a valid but different molecule, ``INVALID`` (-1) for an
unparseable answer or none.

Valid answer (:func:`valid_answer`): any SMILES RDKit reads, i.e. every answer the
reward does not score ``INVALID``; no chance top-1 (answers are open-ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.runtime.protocol import per_example
from mist_pl.tasks.answer import format_reward, parse_completion
from mist_pl.tasks.examples import Examples, read_lines
from mist_pl.tasks.prompts import answer_instructions
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.smiles_answer import canonical_answer, canonical_gold

CORRECT = 1.0
VALID_WRONG = -0.5
INVALID = -1.0

NAME = "rxn_prediction"


def score_rxn_prediction(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = example.get("answer")
    gold = canonical_gold(gold) if isinstance(gold, str) else None
    if gold is None:
        return None  # unscorable example (the loader drops these)
    predicted = canonical_answer(parse_completion(completion).answer)
    if predicted is None:
        return INVALID
    return CORRECT if predicted == gold else VALID_WRONG


rxn_prediction_reward = per_example(score_rxn_prediction, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_rxn_prediction(completion, example) == CORRECT


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer is a SMILES RDKit reads (bare or in the wrappers
    :func:`~mist_pl.tasks.smiles_answer.smiles_text` accepts), right or wrong; the example
    is not consulted."""
    return canonical_answer(parse_completion(completion).answer) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        f"Predict the main product of the reaction of these reactants (SMILES):\n{example['reactants']}\n"
        + answer_instructions("the product as a single SMILES string", "SMILES")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Examples from a ``src-*.txt`` file (one reactants SMILES per line) and its sibling
    ``tgt-*.txt`` (products). Pass either file. Lines whose gold product is not a valid
    SMILES, or with an empty side, are skipped and recorded."""
    path = Path(path)
    if path.name.startswith("tgt-"):
        path = path.with_name("src-" + path.name[4:])
    target = path.with_name("tgt-" + path.name[4:]) if path.name.startswith("src-") else None
    if target is None or not target.exists():
        raise ValueError(f"{path}: expected a src-*.txt file with a tgt-*.txt next to it")
    sources, targets = read_lines(path), read_lines(target)
    examples = Examples()
    if len(sources) != len(targets):
        examples.skip(str(path), f"{len(sources)} source lines but {len(targets)} target lines; extra lines ignored")
    for (where, reactants), (_, product) in zip(sources, targets):
        if not reactants or not product:
            examples.skip(where, "empty line")
        elif canonical_gold(product) is None:
            examples.skip(where, f"gold product is not a valid SMILES: {product[:60]!r}")
        else:
            examples.append({"reactants": reactants, "answer": product, "origin": where})
    return examples.report(f"rxn_prediction {path}")


TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(rxn_prediction_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="reactants SMILES -> product SMILES",
        valid=valid_answer,
    )
)
