"""The reward protocol every task follows (TRL-like).

A reward is a plain function ``fn(completions: list[str], **columns) -> list[float | None]``.
``columns`` are the examples' fields, each a list aligned with ``completions`` (with G
completions per prompt, each example's fields are repeated G times). A column that is
not a list or tuple (a set of known compositions, say) is shared by every completion.
``None`` means "no reward for this completion": it is skipped, never read as zero.

Most rewards judge one completion against one example; :func:`per_example` turns such
a scoring function into a batch reward with the protocol above.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

RewardFn = Callable[..., list[float | None]]
ScoreFn = Callable[[Any, Mapping[str, Any]], float | None]


def is_aligned(value: Any) -> bool:
    """Whether a column value holds one entry per completion (lists and tuples do)."""
    return isinstance(value, (list, tuple))


def check_columns(columns: Mapping[str, Any], n: int, owner: str) -> None:
    """Fail loudly when an aligned column does not have one entry per completion."""
    for name, value in columns.items():
        if is_aligned(value) and len(value) != n:
            raise ValueError(f"{owner}: column {name!r} has {len(value)} entries for {n} completions")


def example_at(columns: Mapping[str, Any], i: int) -> dict[str, Any]:
    """The fields of completion ``i``'s example: aligned columns indexed, shared ones as is."""
    return {name: (value[i] if is_aligned(value) else value) for name, value in columns.items()}


def columns_at(columns: Mapping[str, Any], i: int) -> dict[str, Any]:
    """``columns`` narrowed to completion ``i`` (aligned columns become 1-element lists)."""
    return {name: ([value[i]] if is_aligned(value) else value) for name, value in columns.items()}


class per_example:  # noqa: N801 - used like a decorator, reads as a function
    """Make a batch reward from ``score(completion, example) -> float | None``.

    With ``task`` set, completions whose example has a ``task`` field naming another
    task get ``None``: in a batch that mixes tasks, a SMILES reward must not score the
    rows of another SMILES task. Examples without a ``task`` field are scored.

    A class rather than a closure so the reward pickles by reference to ``score`` (a
    process pool can run it) and carries ``score``'s name into error messages.
    """

    def __init__(self, score: ScoreFn, task: str | None = None):
        self.score = score
        self.task = task
        self.__name__ = getattr(score, "__name__", type(score).__name__)
        self.__qualname__ = getattr(score, "__qualname__", self.__name__)
        self.__module__ = getattr(score, "__module__", __name__)
        self.__doc__ = getattr(score, "__doc__", None)

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        check_columns(columns, len(completions), self.__qualname__)
        return [self._score_one(c, example_at(columns, i)) for i, c in enumerate(completions)]

    def _score_one(self, completion: Any, example: Mapping[str, Any]) -> float | None:
        other = example.get("task")
        if self.task is not None and isinstance(other, str) and other != self.task:
            return None
        return self.score(completion, example)

    def __repr__(self) -> str:
        return f"per_example({self.__module__}.{self.__qualname__})"


def weighted_total(per_reward: Sequence[Sequence[float | None]], weights: Sequence[float]) -> list[float | None]:
    """Combine several rewards' outputs per completion: sum of weight * value over the
    rewards that scored it; ``None`` where no reward did (that completion is skipped)."""
    if len(per_reward) != len(weights):
        raise ValueError(f"{len(per_reward)} reward outputs for {len(weights)} weights")
    n = len(per_reward[0]) if per_reward else 0
    totals: list[float | None] = []
    for i in range(n):
        parts = [w * r[i] for r, w in zip(per_reward, weights) if r[i] is not None and math.isfinite(r[i])]
        totals.append(math.fsum(parts) if parts else None)
    return totals
