"""The task registry: what a task is and how to look one up by name.

A :class:`Task` bundles everything the trainers and the data builders need about one
chemistry task: how to turn an example into a prompt, which rewards score a completion
(with weights), the top-1 metric, the valid-answer check that tells "cannot format" from
"cannot solve", and how its data is made: the example loader for its file format, the
fixture and raw example sources of ``python -m mist_pl.tasks.build``, the split and
dedupe keys (:mod:`mist_pl.tasks.splits`), the SFT trace builder and the label column the
build counts. The build, the splits, the traces and the ``task_sft`` corpus read these
fields; none of them keeps a table of task names, so a new task is one module that
registers its :class:`Task` (and a line in :data:`BUILTIN_TASK_MODULES`). The built-in
tasks are registered by :func:`load_builtin_tasks`, which :func:`get_task` and
``mist_pl.tasks.TASKS`` call on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mist_pl.runtime.imports import import_object
from mist_pl.runtime.protocol import RewardFn
from mist_pl.tasks.answer import RESPONSE_PREFIX

# Weight of the shape check (<think>..</think><answer>..</answer>) next to a task's
# own reward: enough to teach the layout early, small against getting chemistry right.
FORMAT_REWARD_WEIGHT = 0.1

# (options, tally) -> examples: a build's example source. ``options`` is the build's
# options (mist_pl.tasks.sources.raw_examples.RawOptions: raw_dir, demo_dir, limit, seed,
# ...), ``tally`` a mist_pl.tasks.examples.Tally that counts the rows it drops.
ExampleSource = Callable[[Any, Any], list[dict]]
EXAMPLE_SOURCES = ("fixtures", "raw")


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
    metrics: further per-completion rates evaluation reports beside top-1 and the valid
        rate, by name: ``(completion, example) -> bool`` with the same rules as ``top1``
        (cond_mat_gen's ``novel_top1``: right and not a known composition).
    reference_answer: example -> its gold (or source) answer written as a model would
        write it inside ``<answer>``, or None; the default reads ``answer``. The
        no-model baselines (:mod:`mist_pl.eval.baselines`) answer with training examples'.
    choices: example -> the answers the task allows for it, for a closed task (the ten
        classes, true/false, the option letters); None for open-ended answers.
    baselines: the task's own no-model rules by name, each ``examples -> answers`` (one
        answer text or None per example, from the request alone: copy the input, a
        rule-based solver). :mod:`mist_pl.eval.baselines` adds the generic ones.
    split_key: example -> the key that must not cross train/validation/test (a reaction's
        main product, a molecule's InChIKey, a request's element set), or None when it
        cannot be computed (the example is dropped). An example's own ``split_key`` column
        wins over it. Helpers shared by tasks are in :mod:`mist_pl.tasks.splits`. None: the
        task cannot be split (and so not built).
    dedupe_key: example -> the canonical form two duplicate examples share, or None when
        it cannot be computed (the example is dropped); the first duplicate is kept.
    sft_trace: example -> the SFT completion, ``<think>`` reasoning computed from the
        chemistry then the gold answer, or None when the example does not allow one
        (shared pieces: :mod:`mist_pl.tasks.traces`). None: the task has no trace builder
        (the build writes no SFT files for it; the ``task_sft`` corpus uses a placeholder).
    corpus: ``(examples, seed)`` -> prose documents about (training) examples for a CPT
        corpus (the ``task_text`` corpus of :mod:`mist_pl.data.task_examples`): each example with its answer and the computed
        facts behind it, as a textbook would state them. None: the task writes no corpus.
    label_column: the column whose values the build's summary counts per split (the class,
        the true/false label, the option letter); None: no label counts.
    distinct_labels: with a label column of many values, the summary gives only how many
        distinct ones each split has, under this name (cond_mat_gen: "distinct space
        groups"); None: each value is counted.
    fixture_examples: the example source of ``build --source fixtures``: small files the
        package ships (:func:`mist_pl.tasks.sources.fixture_examples.mist_demo_files` makes
        one for mist-demo files read by ``load_examples``). None: no fixture source.
    raw_examples: the example source of ``build --source raw`` (the files
        ``python -m mist_pl.tasks.sources.fetch`` extracted, or data installed with a package), or
        its import path ``"package.module:function"``, imported when a build asks for it:
        the built-in sources live in :mod:`mist_pl.tasks.sources.raw_examples`, whose readers
        import the task modules back. None: no raw source.
    example_file: the small example file the package ships for the task, in the format
        ``load_examples`` reads: the default data of the ``task_sft`` corpus and of
        evaluation (mist-demo files under :data:`mist_pl.shipped.MIST_DEMO`). None: none.
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
    metrics: Mapping[str, Callable[[Any, Mapping[str, Any]], bool]] = field(default_factory=dict)
    reference_answer: Callable[[Mapping[str, Any]], str | None] | None = None
    choices: Callable[[Mapping[str, Any]], Sequence[str]] | None = None
    baselines: Mapping[str, Callable[[Sequence[Mapping[str, Any]]], list[str | None]]] = field(default_factory=dict)
    split_key: Callable[[Mapping[str, Any]], str | None] | None = None
    dedupe_key: Callable[[Mapping[str, Any]], str | None] | None = None
    sft_trace: Callable[[Mapping[str, Any]], str | None] | None = None
    corpus: Callable[[Sequence[Mapping[str, Any]], int], list[str]] | None = None
    label_column: str | None = None
    distinct_labels: str | None = None
    fixture_examples: ExampleSource | None = None
    raw_examples: ExampleSource | str | None = None
    example_file: Path | None = None

    def __post_init__(self) -> None:
        if self.chance_top1 is not None and not 0.0 < self.chance_top1 <= 1.0:  # NaN fails too
            raise ValueError(f"task {self.name!r}: chance_top1={self.chance_top1!r} is not a probability in (0, 1]")

    def example_source(self, source: str) -> ExampleSource | None:
        """The builder of ``source`` (one of :data:`EXAMPLE_SOURCES`), an import path
        resolved; None when the task has none."""
        if source not in EXAMPLE_SOURCES:
            raise ValueError(f"example source must be one of {EXAMPLE_SOURCES}, got {source!r}")
        builder = self.fixture_examples if source == "fixtures" else self.raw_examples
        if isinstance(builder, str):
            return import_object(builder, f"task {self.name!r} {source} examples")
        return builder

    def reference_text(self, example: Mapping[str, Any]) -> str | None:
        """The example's reference answer as answer text (:attr:`reference_answer`)."""
        if self.reference_answer is not None:
            return self.reference_answer(example)
        answer = example.get("answer")
        return answer if isinstance(answer, str) and answer else None

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
