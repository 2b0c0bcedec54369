"""Reaction true/false: is this reaction SMILES a real, correctly written reaction?

Reward (:func:`rxn_true_false_reward`): ``CORRECT`` (1.0) when the answer ("true" or
"false", any case) matches the label, ``WRONG`` (0.0) otherwise or when the answer is
neither word.

Valid answer (:func:`valid_answer`): "true" or "false", right or wrong; a uniform guess
scores :data:`CHANCE_TOP1`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.runtime.protocol import per_example
from mist_pl.shipped import MIST_DEMO
from mist_pl.tasks.answer import answer_instructions, format_reward, parse_completion, true_false
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import canonical_reaction, reaction_product_key
from mist_pl.tasks.traces import reaction_checks, wrap

CORRECT = 1.0
WRONG = 0.0
CHANCE_TOP1 = 0.5  # top-1 of a uniform guess between the two answers

NAME = "rxn_true_false"


def _label(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return true_false(value) if isinstance(value, str) else None


def score_rxn_true_false(completion: Any, example: Mapping[str, Any]) -> float | None:
    gold = _label(example.get("answer"))
    if gold is None:
        return None
    said = true_false(parse_completion(completion).answer)
    return CORRECT if said is not None and said == gold else WRONG


rxn_true_false_reward = per_example(score_rxn_true_false, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_rxn_true_false(completion, example) == CORRECT


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer says "true" or "false" (right or wrong); the example is not consulted."""
    return true_false(parse_completion(completion).answer) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    return (
        "Is this reaction SMILES (reactants>>products) a real, correctly written reaction?\n"
        f"{example['reaction']}\n" + answer_instructions("true or false", "true or false")
    )


def load_examples(path: Path | str) -> list[dict]:
    """Examples from a ``reaction,label`` CSV; labels other than true/false are skipped
    and recorded. ``answer`` is the label as "true" or "false"."""
    examples = Examples()
    for where, row in read_csv_rows(path, ["reaction", "label"], examples):
        label = true_false(row["label"])
        if label is None:
            examples.skip(where, f"label is not true/false: {row['label'][:40]!r}")
        else:
            examples.append({"reaction": row["reaction"], "answer": "true" if label else "false", "origin": where})
    return examples.report(f"rxn_true_false {path}")


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The canonical reaction with its label (a reaction and its corrupted copy differ)."""
    canonical = canonical_reaction(example.get("reaction"))
    return f"{canonical}|{example.get('answer')}" if canonical else None


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """Computed checks of the reaction, then the label."""
    label = _label(example.get("answer"))
    reaction = example.get("reaction")
    if label is None or not isinstance(reaction, str):
        return None
    verdict = "consistent with a real reaction" if label else "not a real, correctly written reaction"
    think = f"Checks: {reaction_checks(reaction)}.\nJudged {verdict}."
    return wrap(think, "true" if label else "false")


SAMPLE = "reactions/rxn_truefalse_sample.csv"  # the mist-demo fixture

TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(rxn_true_false_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="reaction SMILES -> true|false (is it real)",
        valid=valid_answer,
        chance_top1=CHANCE_TOP1,
        choices=lambda example: ("true", "false"),
        # a false statement built from a true reaction carries that reaction's product as
        # its own split_key column, which wins over this
        split_key=reaction_product_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        label_column="answer",
        fixture_examples=mist_demo_files(load_examples, SAMPLE),
        # cleaned reactions and corrupted copies, balanced
        raw_examples="mist_pl.tasks.sources.raw_examples:rxn_true_false_examples",
        example_file=MIST_DEMO / SAMPLE,
    )
)
