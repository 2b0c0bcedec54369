"""Examples for each task from small files the package ships (``--source fixtures``).

Offline and quick, for the tiny demo. Each task names its fixture source in its
:class:`~mist_pl.tasks.registry.Task` (``fixture_examples``); most read mist-demo files
with the task's own loader (:func:`mist_demo_files`; rows it skips are counted by
reason), rxn_naming reads a small real class sample shipped with the package
(:func:`mist_pl.tasks.rxn_naming.fixture_examples`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.registry import get_task
from mist_pl.tasks.sources import layout


@dataclass(frozen=True)
class MistDemoFiles:
    """A fixture source: ``files`` (paths in the mist-demo layout) read by ``loader`` from
    the mist-demo folder (``options.demo_dir``, default the copy shipped in the package),
    at most ``options.limit`` examples per file, each marked ``source: mist-demo``."""

    loader: Callable[[Path], list[dict]]
    files: tuple[str, ...]

    def __call__(self, options, tally: Tally) -> list[dict]:
        demo = layout.demo_root(getattr(options, "demo_dir", None))
        limit = getattr(options, "limit", None)
        examples: list[dict] = []
        for relative in self.files:
            loaded = self.loader(layout.require(demo / relative, "a mist-demo fixture file"))
            tally.absorb(loaded.skipped)
            examples.extend({**e, "source": "mist-demo"} for e in loaded[:limit])
        return examples


def mist_demo_files(loader: Callable[[Path], list[dict]], *files: str) -> MistDemoFiles:
    """The fixture source of a task whose fixtures are mist-demo ``files`` its ``loader``
    (the task's ``load_examples``) reads."""
    return MistDemoFiles(loader, tuple(files))


def fixture_examples(task: str, options, tally: Tally) -> list[dict]:
    """Examples for ``task`` from its fixtures (:attr:`Task.fixture_examples`)."""
    source = get_task(task).example_source("fixtures")
    if source is None:
        raise ValueError(f"no fixture source for task {task!r}")
    return source(options, tally)
