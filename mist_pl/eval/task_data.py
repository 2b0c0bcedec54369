"""Examples to evaluate a task on: a given file, or the file the package ships for it.

A ``.jsonl`` file holds example dicts as the RL prompt data module reads them (rows of
another task, by their ``task`` field, are dropped); anything else goes through the
task's own ``load_examples`` (CSV, ``src-/tgt-`` text, crystal records...).
"""

from __future__ import annotations

from pathlib import Path

# One table of the files the package ships per task, kept with the SFT corpus that also reads it.
from mist_pl.data.task_sft import SHIPPED_EXAMPLES as DEFAULT_FILES
from mist_pl.tasks.registry import Task


def default_file(task_name: str) -> Path | None:
    path = DEFAULT_FILES.get(task_name)
    return path if path is not None and path.is_file() else None


def load_task_examples(task: Task, path: str | Path | None = None, limit: int | None = None) -> list[dict]:
    """The first ``limit`` examples of ``path`` (default: the shipped file, if any)."""
    path = Path(path) if path is not None else default_file(task.name)
    if path is None:
        raise ValueError(f"task {task.name!r} has no shipped data: pass a data file for it")
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} for task {task.name!r} does not exist")
    if path.suffix == ".jsonl":
        from mist_pl.data.prompts import read_jsonl

        examples, _ = read_jsonl(path)
        examples = [e for e in examples if e.get("task", task.name) == task.name]
    elif task.load_examples is None:
        raise ValueError(f"task {task.name!r} has no example loader: give a .jsonl file of examples")
    else:
        examples = list(task.load_examples(path))
    return examples if limit is None else examples[:limit]
