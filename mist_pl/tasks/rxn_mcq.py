"""Reaction multiple choice: which of these reactions is the real one? Answer a letter.

Reward (:func:`rxn_mcq_reward`): ``CORRECT`` (1.0) for the gold letter, ``WRONG``
(0.0) for anything else, including answers that are not a single valid letter.

Example building (:func:`load_examples`) reads ``true_reaction,fake1,fake2,...`` rows.
Options that are the same reaction as another (the shipped fixture often lists the
true reaction with its reactants reordered as a "fake") are dropped, since they would
make two answers right; the options are then shuffled with a seed taken from the
row's content, so the same file always gives the same questions.

Valid answer (:func:`valid_answer`): a letter of one of that question's options. The
task has no single chance top-1: de-duplication leaves a different number of options
per question (a uniform guess scores ``1 / len(options)`` on each).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mist_pl.chem import reactions as chem_reactions
from mist_pl.runtime.protocol import per_example
from mist_pl.shipped import MIST_DEMO
from mist_pl.tasks.answer import LETTERS, answer_instructions, choice_letter, format_reward, parse_completion
from mist_pl.tasks.examples import Examples, read_csv_rows
from mist_pl.tasks.registry import FORMAT_REWARD_WEIGHT, Task, WeightedReward, register_task
from mist_pl.tasks.sources.fixture_examples import mist_demo_files
from mist_pl.tasks.splits import canonical_reaction, product_key
from mist_pl.tasks.traces import reaction_checks, wrap

CORRECT = 1.0
WRONG = 0.0
MIN_OPTIONS = 2

NAME = "rxn_mcq"


def score_rxn_mcq(completion: Any, example: Mapping[str, Any]) -> float | None:
    options, gold = example.get("options"), example.get("answer")
    if not isinstance(options, (list, tuple)) or not isinstance(gold, str):
        return None
    picked = choice_letter(parse_completion(completion).answer, len(options))
    return CORRECT if picked is not None and picked == gold.strip().upper() else WRONG


rxn_mcq_reward = per_example(score_rxn_mcq, task=NAME)


def top1(completion: Any, example: Mapping[str, Any]) -> bool:
    return score_rxn_mcq(completion, example) == CORRECT


def valid_answer(completion: Any, example: Mapping[str, Any]) -> bool:
    """Whether the answer picks one of this question's options (right or wrong); False
    when the example has no option list."""
    options = example.get("options")
    if not isinstance(options, (list, tuple)):
        return False
    return choice_letter(parse_completion(completion).answer, len(options)) is not None


def build_prompt(example: Mapping[str, Any]) -> str:
    lines = "\n".join(f"{LETTERS[i]}) {option}" for i, option in enumerate(example["options"]))
    last = LETTERS[len(example["options"]) - 1]
    return (
        "Exactly one of these reaction SMILES (reactants>>products) describes a real, "
        f"correctly written reaction. Which one?\n{lines}\n"
        + answer_instructions(f"the letter of that reaction (A-{last})", "letter")
    )


def _reaction_key(reaction: str) -> str:
    """Identity of a reaction for de-duplication: canonical form (agents counted as
    reactants, since data sets disagree on where reagents go), else the raw text."""
    return chem_reactions.canonicalize_reaction(reaction, keep_agents=False) or reaction


def make_example(true_reaction: str, fakes: list[str], where: str) -> dict | None:
    """One question: distinct options, shuffled by a content seed; None if < 2 remain."""
    seen = {_reaction_key(true_reaction)}
    options = [true_reaction]
    for fake in fakes:
        key = _reaction_key(fake)
        if key not in seen:
            seen.add(key)
            options.append(fake)
    if len(options) < MIN_OPTIONS:
        return None
    options = options[: len(LETTERS)]  # one letter each; the true reaction is first
    rng = random.Random(zlib.crc32("\n".join(options).encode("utf-8", "replace")))
    rng.shuffle(options)
    gold = LETTERS[options.index(true_reaction)]
    return {"options": options, "answer": gold, "origin": where}


def load_examples(path: Path | str) -> list[dict]:
    """Questions from a CSV whose first column is ``true_reaction`` and whose other
    ``fake*`` columns hold wrong reactions. Rows left with fewer than two distinct
    options are skipped and recorded."""
    examples = Examples()
    for where, row in read_csv_rows(path, ["true_reaction"], examples):
        fakes = [v for k, v in row.items() if k.startswith("fake") and v]
        example = make_example(row["true_reaction"], fakes, where)
        if example is None:
            examples.skip(where, "fewer than two distinct reactions")
        else:
            examples.append(example)
    return examples.report(f"rxn_mcq {path}")


def true_reaction(example: Mapping[str, Any]) -> str | None:
    """The option the gold letter picks; None when the letter picks none."""
    options, letter = example.get("options"), example.get("answer")
    if not isinstance(options, (list, tuple)) or not isinstance(letter, str) or letter not in LETTERS[: len(options)]:
        return None
    return options[LETTERS.index(letter)]


def split_key(example: Mapping[str, Any]) -> str | None:
    """The true reaction's main product, as for every reaction task."""
    return product_key(true_reaction(example) or "")


def dedupe_key(example: Mapping[str, Any]) -> str | None:
    """The true reaction's canonical form."""
    true = true_reaction(example)
    return canonical_reaction(true) if true else None


def sft_trace(example: Mapping[str, Any]) -> str | None:
    """Computed checks of every option, then the gold letter."""
    options = example.get("options")
    if not isinstance(options, (list, tuple)) or not options:
        return None
    letter = choice_letter(example.get("answer"), len(options))
    if letter is None:
        return None
    lines = [f"{LETTERS[i]}) {reaction_checks(option)}." for i, option in enumerate(options)]
    lines.append(f"The checks best support option {letter} as the real reaction.")
    return wrap("\n".join(lines), letter)


SAMPLE = "reactions/rxn_inversion_sample.csv"  # the mist-demo fixture

TASK = register_task(
    Task(
        name=NAME,
        build_prompt=build_prompt,
        rewards=(WeightedReward(rxn_mcq_reward, 1.0), WeightedReward(format_reward, FORMAT_REWARD_WEIGHT)),
        top1=top1,
        load_examples=load_examples,
        description="reaction SMILES options -> letter of the real reaction",
        valid=valid_answer,
        choices=lambda example: LETTERS[: len(example.get("options") or ())],
        split_key=split_key,
        dedupe_key=dedupe_key,
        sft_trace=sft_trace,
        label_column="answer",
        fixture_examples=mist_demo_files(load_examples, SAMPLE),
        # each cleaned reaction against corrupted copies of itself
        raw_examples="mist_pl.tasks.sources.raw_examples:rxn_mcq_examples",
        example_file=MIST_DEMO / SAMPLE,
    )
)
