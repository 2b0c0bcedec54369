"""A task's examples as data: the files the package ships per task, reading a task's data
file, and the ``task_sft`` and ``task_text`` corpora built from them.

Reading (:func:`read_task_file`, for GRPO prompts and evaluation alike): a ``.jsonl`` file
holds example dicts, one per line (a line that is not a JSON object is skipped, with the
reason); any other file is read by the task's own loader (``load_examples``: CSV,
``src-/tgt-`` text, crystal records...). The files the package ships are each task's
``example_file`` (:func:`shipped_examples`, :data:`SHIPPED_EXAMPLES`).

The ``task_sft`` corpus: a mixture source ``{corpus: task_sft, options: {task: <name>, path: <file>}}`` reads the
task's examples with its own loader (``get_task(name).load_examples(path)``), asks the
task for each prompt (``build_prompt(example)``) and the task's SFT trace builder for the
target (``sft_trace(example)``: reasoning computed from the chemistry, then the gold
answer, ``<think>...</think><answer>...</answer>``). The records
(fields ``prompt``, ``completion``, ``task``, ``answer``) then take the ordinary ``chat``
transform path, so drops are counted and shards are written exactly as for a user's
jsonl of pairs. An example the builder cannot explain is dropped as ``no_sft_trace``; a
task without a builder gets the placeholder target ``<think>The answer is {answer}.</think>
<answer>{answer}</answer>``, which teaches the layout and the answer, not chemistry.

The ``task_text`` corpus (``{corpus: task_text, options: {task: <name>, path: <train.jsonl>,
seed: 0}}``): the task's prose about each example of a training split (``Task.corpus``;
MiST's synthetic reaction corpus for CPT: each reaction as its prompt shows it, its class
and the bonds and functional groups that change, plus an overview per class), as text
documents. ``path`` is required: only a training split belongs in a CPT mix.

``task_sft``'s ``path`` defaults to the small file the package ships for the task (its ``example_file``,
:func:`shipped_examples`); a task without one is reported unavailable until ``path`` is
set, which ``optional: true`` turns into a warning. The same pairs, split without
leakage, are what ``python -m mist_pl.tasks.build`` writes as ``sft_train.jsonl``: read
those with ``format: jsonl`` + ``transform: {kind: chat}``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Optional

from mist_pl.data.readers import Item, Malformed, Origin, Record, RowError, json_object
from mist_pl.shipped import MIST_DEMO, mist_demo_file
from mist_pl.tasks.registry import get_task, load_builtin_tasks

OPTIONS = ("task", "path")
TEXT_OPTIONS = ("task", "path", "seed")


def _mist_demo_path(path: Optional[Path]) -> Optional[str]:
    """``path`` in the mist-demo layout (``reactions/x.csv``) when it is a mist-demo file, else None."""
    if path is None:
        return None
    try:
        return Path(path).relative_to(MIST_DEMO).as_posix()
    except ValueError:
        return None


class _ShippedMistDemo(Mapping):
    """Task name -> the mist-demo file (path in the mist-demo layout) the package ships as
    its examples, from the registered tasks' ``example_file`` (read on first use, so that
    importing this module loads no task). rxn_naming's class sample is not a mist-demo
    file and is not listed (:func:`shipped_examples` has it)."""

    def _table(self) -> dict[str, str]:
        return {name: rel for name, task in load_builtin_tasks().items() if (rel := _mist_demo_path(task.example_file))}

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


# The mist-demo files the package ships as task examples (small fixtures for smoke runs,
# not benchmarks), by task; evaluation reads the same table.
SHIPPED_EXAMPLES: Mapping[str, str] = _ShippedMistDemo()


def shipped_examples(task_name: str) -> Optional[Path]:
    """The package's example file for a task (its ``example_file``; a missing mist-demo
    file fails naming it), or None."""
    try:
        path = get_task(task_name).example_file
    except KeyError:
        return None
    relative = _mist_demo_path(path)
    return mist_demo_file(relative) if relative is not None else path


def read_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    """Objects of a jsonl file and the reasons lines were skipped."""
    examples, skipped = [], []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json_object(line)
            except RowError as error:
                skipped.append(f"{path}:{line_no}: {error}")
                continue
            record.setdefault("origin", f"{path}:{line_no}")
            examples.append(record)
    return examples, skipped


def read_task_file(path: Path, task: str) -> tuple[list[dict], list[str]]:
    """The examples of a data file for ``task`` and the reasons lines were skipped: a
    ``.jsonl`` file's objects (rows of other tasks included: the caller decides), any
    other file through the task's loader. ValueError for a task that reads no files."""
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    loader = get_task(task).load_examples
    if loader is None:
        raise ValueError(f"task {task!r} has no example loader: give a .jsonl file of examples")
    return [dict(e) for e in loader(path)], []


def _task(options: Mapping[str, Any], corpus: str = "task_sft", known: tuple[str, ...] = OPTIONS):
    unknown = set(options) - set(known)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for corpus {corpus!r}; known: {list(known)}")
    name = options.get("task")
    if not isinstance(name, str) or not name:
        raise ValueError(f"corpus {corpus!r} needs option 'task' (a task name, e.g. rxn_naming)")
    try:
        task = get_task(name)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    if task.load_examples is None:
        raise ValueError(f"task {name!r} has no example loader; give its SFT pairs as a jsonl source instead")
    return task


def example_files(options: dict) -> list[Path]:
    """The task's data file: ``path``, or the shipped one (LookupError when there is none)."""
    task = _task(options)
    if options.get("path") is not None:
        return [Path(os.path.abspath(os.path.expanduser(os.path.expandvars(str(options["path"])))))]
    shipped = shipped_examples(task.name)
    if shipped is None:
        raise LookupError(f"task {task.name!r} ships no examples; set options.path to a data file for it")
    return [shipped]


def placeholder_completion(example: Mapping[str, Any]) -> Optional[str]:
    """The target for tasks without a trace builder, in the layout the format reward checks."""
    answer = example.get("answer")
    return None if answer is None else f"<think>The answer is {answer}.</think><answer>{answer}</answer>"


def completion_builder(task_name: str) -> Callable[[Mapping[str, Any]], Optional[str]]:
    """The task's trace builder (``sft_trace``), else :func:`placeholder_completion`."""
    try:
        trace = get_task(task_name).sft_trace
    except KeyError:
        trace = None
    return trace if trace is not None else placeholder_completion


def read_sft_records(files: list[Path], options: dict) -> Iterator[Item]:
    """One record per example; examples the task's loader skipped come out as malformed items."""
    task = _task(options)
    completion = completion_builder(task.name)
    for path in files:
        examples = task.load_examples(path)
        for number, example in enumerate(examples, start=1):
            origin = _origin(example.get("origin"), path, number)
            try:
                prompt, target = task.build_prompt(example), completion(example)
            except Exception as err:  # noqa: BLE001 - one odd example must not stop the source
                yield Malformed("no_sft_pair", origin, f"{type(err).__name__}: {err}"[:200])
                continue
            if target is None:
                yield Malformed("no_sft_trace", origin, "the trace builder cannot explain this example")
                continue
            yield Record({"prompt": prompt, "completion": target, "task": task.name, "answer": str(example.get("answer"))}, origin)
        for where, reason in getattr(examples, "skipped", []):
            yield Malformed("malformed_row:task_example", _origin(where, path, 0), reason)


def text_files(options: dict) -> list[Path]:
    """The ``task_text`` corpus's file: ``path`` (required: a training split, never a
    shipped example file that evaluation may also read)."""
    task = _task(options, "task_text", TEXT_OPTIONS)
    if task.corpus is None:
        raise ValueError(f"task {task.name!r} writes no corpus (its Task has no `corpus`)")
    if options.get("path") is None:
        raise ValueError("corpus 'task_text' needs option 'path': the task's train.jsonl")
    return [Path(os.path.abspath(os.path.expanduser(os.path.expandvars(str(options["path"])))))]


def read_text_records(files: list[Path], options: dict) -> Iterator[Item]:
    """The ``task_text`` corpus: the task's prose about each example of its (training)
    file (``Task.corpus``), one ``{"text"}`` record per document, ``seed`` picking the
    sentence templates."""
    task = _task(options, "task_text", TEXT_OPTIONS)
    seed = options.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"corpus 'task_text' option 'seed': {seed!r} is not an integer")
    for path in files:
        examples, skipped = read_task_file(path, task.name)
        for reason in skipped:
            yield Malformed("malformed_row:task_example", Origin(str(path), 0), reason)
        for number, text in enumerate(task.corpus(examples, seed), start=1):
            yield Record({"text": text, "task": task.name}, Origin(str(path), number))


def _origin(text: Any, path: Path, number: int) -> Origin:
    """``Origin`` from a task example's ``"file:line"``; the file and example number otherwise."""
    file, _, line = str(text or "").rpartition(":")
    return Origin(file, int(line)) if file and line.isdigit() else Origin(str(path), number)
