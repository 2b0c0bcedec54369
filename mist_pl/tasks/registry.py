"""The task registry: what a task is and how to look one up by name.

A :class:`Task` bundles everything the trainers need about one chemistry task: how
to turn an example into a prompt, which rewards score a completion (with weights),
the top-1 metric, the valid-answer check that tells "cannot format" from "cannot
solve", and an optional example builder for the shipped file formats. The
built-in tasks are registered by :func:`load_builtin_tasks`, which :func:`get_task`
and ``mist_pl.tasks.TASKS`` call on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mist_pl.runtime.protocol import RewardFn
from mist_pl.tasks.answer import RESPONSE_PREFIX

# Weight of the shape check (<think>..</think><answer>..</answer>) next to a task's
# own reward: enough to teach the layout early, small against getting chemistry right.
FORMAT_REWARD_WEIGHT = 0.1


@dataclass(frozen=True)
class WeightedReward:
    fn: RewardFn
    weight: float = 1.0


@dataclass(frozen=True)
class Task:
    """One task.

    name: registry key.
    build_prompt: example -> prompt text (states the answer format).
    rewards: reward functions (see :mod:`mist_pl.runtime.protocol`) with weights; the
        total reward is the weighted sum (:func:`mist_pl.runtime.protocol.weighted_total`).
    top1: (completion, example) -> whether the answer is right (the task's metric).
    load_examples: path -> list of example dicts, for the shipped file formats.
    description: one line for listings.
    metadata: free-form facts (e.g. an optional task's extra dependency).
    valid: (completion, example) -> whether the completion closes an
        ``<answer>...</answer>`` block whose content is a well-typed answer for the task,
        right or wrong (a class name, a SMILES RDKit reads, an option letter, ...).
        Reported next to top-1 so a low score says whether the model cannot format an
        answer or cannot solve the task. Like ``top1`` it judges untrusted text: it must
        never raise and must stay linear in the completion's length. None: the task has
        no such check (the valid-answer rate is then not reported).
    response_prefix: text the assistant turn starts with, already written after the
        prompt (:data:`mist_pl.tasks.answer.RESPONSE_PREFIX`, ``<think>``); completions
        are judged with it in front.
    chance_top1: top-1 of guessing uniformly among the allowed answers (0.1 for ten
        classes, 0.5 for true/false); None where that is not one number (open-ended
        answers, or a number of options that varies by example).
    check_example: example -> None, raising ValueError that names a bad run setting the
        example carries (cond_mat_gen's ``oxidation_states``); the prompt data module
        calls it on every example at start-up, so a typo stops the run before training
        instead of turning into silent zero rewards. None: nothing to check.
    """

    name: str
    build_prompt: Callable[[Mapping[str, Any]], str]
    rewards: tuple[WeightedReward, ...]
    top1: Callable[[Any, Mapping[str, Any]], bool]
    load_examples: Callable[[Path | str], list[dict]] | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    valid: Callable[[Any, Mapping[str, Any]], bool] | None = None
    chance_top1: float | None = None
    response_prefix: str = RESPONSE_PREFIX
    check_example: Callable[[Mapping[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if self.chance_top1 is not None and not 0.0 < self.chance_top1 <= 1.0:  # NaN fails too
            raise ValueError(f"task {self.name!r}: chance_top1={self.chance_top1!r} is not a probability in (0, 1]")

    @property
    def reward_functions(self) -> list[RewardFn]:
        return [r.fn for r in self.rewards]

    @property
    def reward_weights(self) -> list[float]:
        return [r.weight for r in self.rewards]


_TASKS: dict[str, Task] = {}
TASKS: Mapping[str, Task] = MappingProxyType(_TASKS)  # read-only view; add with register_task


def register_task(task: Task) -> Task:
    """Add ``task`` under ``task.name``; a different task under a taken name is an error."""
    existing = _TASKS.get(task.name)
    if existing is not None and existing is not task:
        raise ValueError(f"task {task.name!r} is already registered")
    _TASKS[task.name] = task
    return task


BUILTIN_TASK_MODULES = (
    "mist_pl.tasks.rxn_naming",
    "mist_pl.tasks.cond_mat_gen",
    "mist_pl.tasks.rxn_prediction",
    "mist_pl.tasks.iupac_to_smiles",
    "mist_pl.tasks.canonicalization",
    "mist_pl.tasks.rxn_mcq",
    "mist_pl.tasks.rxn_true_false",
    "mist_pl.tasks.crystal_relax",  # optional: its reward needs the `materials` extra (CHGNet), imported lazily
)


def load_builtin_tasks() -> Mapping[str, Task]:
    """Import the built-in task modules (each registers itself); returns :data:`TASKS`."""
    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)
    return TASKS


def get_task(name: str) -> Task:
    """The registered task called ``name`` (built-ins are loaded on first use)."""
    if name not in _TASKS:
        load_builtin_tasks()
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; registered: {sorted(_TASKS)}") from None


def check_examples(examples: Iterable[Mapping[str, Any]]) -> None:
    """Each example's registered task checks the run settings the example carries
    (:attr:`Task.check_example`); the first bad one raises ValueError naming the example's
    origin, its task and the value. Examples of unknown tasks are not checked here."""
    checks: dict[str, Callable[[Mapping[str, Any]], None] | None] = {}
    for example in examples:
        task = example.get("task")
        if not isinstance(task, str):
            continue
        if task not in checks:
            try:
                checks[task] = get_task(task).check_example
            except KeyError:
                checks[task] = None
        check = checks[task]
        if check is not None:
            try:
                check(example)
            except ValueError as error:
                raise ValueError(f"example {example.get('origin', '?')} (task {task}): {error}") from None
