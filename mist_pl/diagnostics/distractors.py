"""Gold and distractor answers per task, for the log-prob latent-solvability variant.

* closed-answer tasks use every other valid answer: ``rxn_naming`` the 9 other reaction
  classes, ``rxn_mcq`` the other option letters, ``rxn_true_false`` the opposite word;
* SMILES-answer tasks (``rxn_prediction``, ``iupac_to_smiles``, ``canonicalization``)
  draw ``num_distractors`` answers of other examples that are different molecules
  (compared as canonical SMILES);
* other registered tasks with a string ``answer`` draw other examples' different answers;
* ``cond_mat_gen`` has no single gold answer (many materials satisfy a request): skipped.

Draws use ``random.Random(f"{seed}\\0{task}\\0{index}")`` over the sorted candidates,
so a file and a seed always give the same distractors.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mist_pl.chem.smiles import canonicalize
from mist_pl.tasks.answer import LETTERS
from mist_pl.tasks.rxn_naming import REACTION_CLASSES

SMILES_TASKS = ("rxn_prediction", "iupac_to_smiles", "canonicalization")
CLOSED_TASKS = ("rxn_naming", "rxn_mcq", "rxn_true_false")  # every example's candidates come from one fixed set
NO_GOLD_TASKS = {"cond_mat_gen": "no unique gold answer (many materials satisfy a request)"}
DEFAULT_NUM_DISTRACTORS = 4


@dataclass(frozen=True)
class AnswerSet:
    gold: str
    distractors: tuple[str, ...]


@dataclass(frozen=True)
class NoAnswerSet:
    reason: str


def _closed_set(task: str, example: Mapping[str, Any]) -> AnswerSet | NoAnswerSet:
    gold = example.get("answer")
    if not isinstance(gold, str) or not gold:
        return NoAnswerSet("no gold answer")
    if task == "rxn_naming":
        return AnswerSet(gold, tuple(c for c in REACTION_CLASSES if c != gold))
    if task == "rxn_mcq":
        letters = LETTERS[: len(example.get("options") or ())]
        if gold not in letters:
            return NoAnswerSet("gold letter not among the options")
        return AnswerSet(gold, tuple(x for x in letters if x != gold))
    other = {"true": "false", "false": "true"}.get(gold)  # rxn_true_false
    return AnswerSet(gold, (other,)) if other else NoAnswerSet(f"label {gold!r} is not true/false")


def _key(task: str, answer: str) -> str | None:
    return canonicalize(answer) if task in SMILES_TASKS else answer.strip()


def answer_sets(
    task: str, examples: Sequence[Mapping[str, Any]], num_distractors: int = DEFAULT_NUM_DISTRACTORS, seed: int = 0
) -> list[AnswerSet | NoAnswerSet]:
    """One entry per example, aligned with ``examples``."""
    if task in NO_GOLD_TASKS:
        return [NoAnswerSet(NO_GOLD_TASKS[task])] * len(examples)
    if task in CLOSED_TASKS:
        return [_closed_set(task, e) for e in examples]
    answers = [e.get("answer") if isinstance(e.get("answer"), str) else None for e in examples]
    keys = [_key(task, a) if a else None for a in answers]
    pool: dict[str, str] = {}
    for key, answer in zip(keys, answers):
        if key is not None:
            pool.setdefault(key, answer)  # one spelling per distinct answer
    out: list[AnswerSet | NoAnswerSet] = []
    for index, (key, answer) in enumerate(zip(keys, answers)):
        if key is None:
            out.append(NoAnswerSet("no valid gold answer"))
            continue
        candidates = sorted(k for k in pool if k != key)
        if not candidates:
            out.append(NoAnswerSet("no different answer among the other examples"))
            continue
        rng = random.Random(f"{seed}\0{task}\0{index}")
        picked = rng.sample(candidates, min(num_distractors, len(candidates)))
        out.append(AnswerSet(answer, tuple(pool[k] for k in picked)))
    return out
