"""The ``task_sft`` corpus: SFT (prompt, completion) records built from the task suite.

A mixture source ``{corpus: task_sft, options: {task: <name>, path: <file>}}`` reads the
task's examples with its own loader (``get_task(name).load_examples(path)``), asks the
task for each prompt (``build_prompt(example)``) and the task suite's SFT trace builder
for the target (:func:`mist_pl.tasks.traces.sft_completion`: reasoning computed from the
chemistry, then the gold answer, ``<think>...</think><answer>...</answer>``). The records
(fields ``prompt``, ``completion``, ``task``, ``answer``) then take the ordinary ``chat``
transform path, so drops are counted and shards are written exactly as for a user's
jsonl of pairs. An example the builder cannot explain is dropped as ``no_sft_trace``; a
task without a builder gets the placeholder target ``<think>The answer is {answer}.</think>
<answer>{answer}</answer>``, which teaches the layout and the answer, not chemistry.

``path`` defaults to the small file the package ships for the task
(:func:`shipped_examples`); a task without one is reported unavailable until ``path`` is
set, which ``optional: true`` turns into a warning. The same pairs, split without
leakage, are what ``python -m mist_pl.tasks.build`` writes as ``sft_train.jsonl``: read
those with ``format: jsonl`` + ``transform: {kind: chat}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

from mist_pl.data.sources import Item, Malformed, Origin, Record
from mist_pl.shipped import mist_demo_file
from mist_pl.tasks.data.fixture_examples import CLASS_SAMPLE
from mist_pl.tasks.registry import get_task
from mist_pl.tasks.traces import TRACES

# Tasks whose examples the package ships (small fixtures for smoke runs, not benchmarks):
# the mist-demo file each reads, under mist_pl/assets/mist_demo.
SHIPPED_EXAMPLES = {
    "iupac_to_smiles": "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
    "canonicalization": "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
    "rxn_true_false": "reactions/rxn_truefalse_sample.csv",
    "rxn_mcq": "reactions/rxn_inversion_sample.csv",
}
OPTIONS = ("task", "path")


def shipped_examples(task_name: str) -> Optional[Path]:
    """The package's example file for a task, or None."""
    if task_name == "rxn_naming":  # the task suite's real class-labelled sample (reaction, class columns)
        return CLASS_SAMPLE
    relative = SHIPPED_EXAMPLES.get(task_name)
    return mist_demo_file(relative) if relative is not None else None


def _task(options: Mapping[str, Any]):
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for corpus 'task_sft'; known: {list(OPTIONS)}")
    name = options.get("task")
    if not isinstance(name, str) or not name:
        raise ValueError("corpus 'task_sft' needs option 'task' (a task name, e.g. rxn_mcq)")
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
    """The task suite's trace builder for ``task_name``, else :func:`placeholder_completion`."""
    return TRACES.get(task_name, placeholder_completion)


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


def _origin(text: Any, path: Path, number: int) -> Origin:
    """``Origin`` from a task example's ``"file:line"``; the file and example number otherwise."""
    file, _, line = str(text or "").rpartition(":")
    return Origin(file, int(line)) if file and line.isdigit() else Origin(str(path), number)
