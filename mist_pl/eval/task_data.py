"""Examples to evaluate a task on: a given file, or the file the package ships for it.

The file is read as the RL prompt data module reads it
(:func:`mist_pl.data.task_examples.read_task_file`: a ``.jsonl`` file of example dicts,
anything else through the task's own ``load_examples``); rows of another task, by their
``task`` field, are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# One table of the files the package ships per task, kept with the SFT corpus that also reads it.
from mist_pl.data.task_examples import SHIPPED_EXAMPLES as DEFAULT_FILES
from mist_pl.data.task_examples import read_task_file
from mist_pl.shipped import mist_demo_file
from mist_pl.tasks.registry import Task, check_examples


def default_file(task_name: str) -> Path | None:
    """The mist-demo file the package ships for a task (a missing one fails, naming it), or None."""
    relative = DEFAULT_FILES.get(task_name)
    return mist_demo_file(relative) if relative is not None else None


def answer_key(example: Mapping[str, Any]) -> object:
    answer = example.get("answer")
    return answer if isinstance(answer, (str, int, float, bool)) else repr(answer)


def balanced(examples: Sequence[dict], limit: int, key: Callable[[Mapping[str, Any]], object] = answer_key) -> list[dict]:
    """``limit`` examples taken round-robin over the distinct values of ``key`` (each value's
    examples in file order): every value once before any twice.

    Why: with ``key`` = the answer, a closed answer set (ten reaction classes) is evenly
    represented as far as the file allows; on a split whose classes are uneven, top-1 of
    "always the commonest class" beats chance and a model's class prior moves LS_d,
    neither of which says anything about the examples. With ``key`` = the requested
    element set, the examples are distinct requests first."""
    buckets: dict[object, list[dict]] = {}
    for example in examples:
        buckets.setdefault(key(example), []).append(example)
    queues = [iter(bucket) for bucket in buckets.values()]
    chosen: list[dict] = []
    while queues and len(chosen) < limit:
        still = []
        for queue in queues:
            example = next(queue, None)
            if example is not None and len(chosen) < limit:
                chosen.append(example)
                still.append(queue)
        queues = still
    return chosen


def load_task_examples(
    task: Task, path: str | Path | None = None, limit: int | None = None,
    balance_by: Callable[[Mapping[str, Any]], object] | None = None,
) -> list[dict]:
    """The first ``limit`` examples of ``path`` (default: the shipped file, if any), or with
    ``balance_by`` the first of each of its values in turn (:func:`balanced`)."""
    path = Path(path) if path is not None else default_file(task.name)
    if path is None:
        raise ValueError(f"task {task.name!r} has no shipped data: pass a data file for it")
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} for task {task.name!r} does not exist")
    examples, _ = read_task_file(path, task.name)
    examples = [e for e in examples if e.get("task", task.name) == task.name]
    check_examples({**e, "task": e.get("task", task.name)} for e in examples)
    if limit is None:
        return examples
    return balanced(examples, limit, balance_by) if balance_by is not None else examples[:limit]
