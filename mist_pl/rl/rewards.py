"""Reward callbacks: configured by import path, called safely, combined by weight.

A reward is a plain function ``fn(completions, **columns) -> list[float | None]`` (the
task suite's protocol, :mod:`mist_pl.runtime.protocol`). In YAML::

    rewards:
      - {fn: mist_pl.tasks.rxn_naming.rxn_naming_reward, weight: 1.0}
      - {fn: mist_pl.tasks.answer.format_reward, weight: 0.1}

Each function runs through :func:`mist_pl.runtime.safety.safe_reward_call` with a
wall-clock limit: an exception or a timeout costs only the affected completions their
reward (``None``), counted and logged per function, and never stops training. A reward
that returns the wrong number of values raises, naming the function.

The top-1 metric and the valid-answer flag come from the task registry: examples with
a ``task`` column whose task is registered are judged with that task's ``top1`` and
``valid`` (1.0 / 0.0 per completion, ``None`` where the task is unknown or lacks the
check), through the same safe call as the rewards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mist_pl.runtime.imports import import_object, import_path_of
from mist_pl.runtime.protocol import per_example, weighted_total
from mist_pl.runtime.safety import add_warm_modules, default_runner, runner_kind, safe_reward_call
from mist_pl.tasks.registry import BUILTIN_TASK_MODULES, get_task

log = logging.getLogger(__name__)


@dataclass
class RewardSpec:
    """One reward function: ``fn`` is an import path (``package.module.function`` or
    ``package.module:function``); ``name`` labels it in the logs (default: the function's)."""

    fn: str
    weight: float = 1.0
    name: str | None = None


def task_reward_specs(task_name: str) -> list[RewardSpec]:
    """The rewards task ``task_name`` declares (:attr:`Task.rewards`), each named by its
    import path, with the task's weights: what GRPO on that task scores with when the
    config lists no rewards. Raises ``KeyError`` naming the known tasks for an unknown one."""
    return [RewardSpec(fn=import_path_of(r.fn), weight=r.weight) for r in get_task(task_name).rewards]


@dataclass
class RewardResult:
    """Rewards of one round. ``total[i]`` is None when no reward function scored
    completion i; ``failed`` counts exceptions/timeouts/non-finite values per function,
    ``skipped`` the Nones each function returned on purpose (or after failing).
    ``top1`` / ``valid``: per completion, whether its answer is right / is a well-typed
    answer at all (see :class:`~mist_pl.tasks.registry.Task`); None where not judged."""

    total: list[float | None]
    per_function: dict[str, list[float | None]]
    failed: dict[str, int]
    skipped: dict[str, int]
    top1: list[float | None] = field(default_factory=list)
    valid: list[float | None] = field(default_factory=list)


class RewardComputer:
    """Resolves the configured reward functions once and scores rounds of completions."""

    def __init__(self, specs: Sequence[RewardSpec | Mapping], timeout_s: float = 10.0, runner: str | None = None) -> None:
        specs = [s if isinstance(s, RewardSpec) else RewardSpec(**s) for s in specs]
        if not specs:
            raise ValueError("rewards: configure at least one reward function")
        self.functions = [import_object(s.fn) for s in specs]
        self.weights = [float(s.weight) for s in specs]
        self.names = [s.name or getattr(f, "__name__", s.fn.rpartition(".")[2]) for s, f in zip(specs, self.functions)]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"rewards: two reward functions share a name in {self.names}; set name: for one")
        self.timeout_s = timeout_s
        # The shared reward workers import the built-in task modules up front.
        add_warm_modules(BUILTIN_TASK_MODULES)
        # Decided (and $MIST_PL_REWARD_RUNNER checked) now, at start-up; the shared process
        # pool itself starts on the first call.
        self.runner_kind = runner_kind(runner)

    @property
    def runner(self):
        """The shared runner of :attr:`runner_kind` (threads if processes cannot start)."""
        return default_runner(self.runner_kind)

    def __call__(self, completions: Sequence[str], columns: Mapping[str, Any]) -> RewardResult:
        per_function, failed, skipped = {}, {}, {}
        for name, fn in zip(self.names, self.functions):
            values, n_failed = safe_reward_call(fn, completions, columns, timeout_s=self.timeout_s, runner=self.runner)
            per_function[name] = values
            failed[name] = n_failed
            skipped[name] = sum(v is None for v in values)
        total = weighted_total([per_function[n] for n in self.names], self.weights)
        return RewardResult(total, per_function, failed, skipped, self.top1(completions, columns),
                            self.valid(completions, columns))

    def top1(self, completions: Sequence[str], columns: Mapping[str, Any]) -> list[float | None]:
        """1/0 per completion whose example names a registered task with a metric, else None."""
        return self.task_judgement("top1", completions, columns)

    def valid(self, completions: Sequence[str], columns: Mapping[str, Any]) -> list[float | None]:
        """1/0 per completion whose example names a registered task with a validity check
        (a well-typed answer, right or wrong), else None."""
        return self.task_judgement("valid", completions, columns)

    def task_judgement(self, attribute: str, completions: Sequence[str], columns: Mapping[str, Any]) -> list[float | None]:
        """The registered tasks' ``attribute`` check (``top1`` or ``valid``) per completion,
        each task's rows in one safe call; None where the example has no registered task
        with that check, or the check failed or timed out."""
        tasks = columns.get("task")
        if not isinstance(tasks, (list, tuple)):
            return [None] * len(completions)
        out: list[float | None] = [None] * len(completions)
        for task_name in sorted({t for t in tasks if isinstance(t, str)}):
            metric = task_metric(task_name, attribute)
            if metric is None:
                continue
            rows = [i for i, t in enumerate(tasks) if t == task_name]
            sub = {k: ([v[i] for i in rows] if isinstance(v, (list, tuple)) else v) for k, v in columns.items()}
            values, _ = safe_reward_call(metric, [completions[i] for i in rows], sub, timeout_s=self.timeout_s, runner=self.runner)
            for i, value in zip(rows, values):
                out[i] = value
        return out


# Task attributes that are per-completion checks ``(completion, example) -> bool``.
JUDGEMENT_ATTRIBUTES = ("top1", "valid")

_METRICS: dict[tuple[str, str], Any] = {}


def task_metric(name: str, attribute: str = "top1"):
    """The task's ``attribute`` check (``top1``: its top-1 metric; ``valid``: its
    valid-answer check) as a batch function (cached), or None if the task is unknown or
    has no such check."""
    if attribute not in JUDGEMENT_ATTRIBUTES:
        raise ValueError(f"task attribute {attribute!r} is not one of {JUDGEMENT_ATTRIBUTES}")
    key = (name, attribute)
    if key not in _METRICS:
        metric = None
        try:
            check = getattr(get_task(name), attribute, None)
            metric = per_example(check) if check is not None else None
        except (KeyError, ImportError) as error:
            log.info("no %s check for task %r (%s)", attribute, name, error)
        _METRICS[key] = metric
    return _METRICS[key]


__all__ = ["RewardComputer", "RewardResult", "RewardSpec", "task_metric", "task_reward_specs"]
