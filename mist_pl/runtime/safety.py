"""Call a reward function on model output without letting it crash or stall training.

:func:`safe_reward_call` separates two kinds of failure:

* **Programming errors fail loudly**: a reward that returns something other than a
  list of numbers/None, or a list whose length differs from the number of
  completions, raises :class:`RewardContractError` naming the function.
* **Per-completion failures are contained**: an exception or a timeout gives that
  completion ``None`` (no reward; GRPO skips it) and is counted in ``n_failed``. They
  never become silent zeros and never stop training. Non-finite values (NaN, inf) are
  treated the same way, since one NaN would poison a group's advantages.

Time is bounded without ``signal.alarm`` (see :mod:`mist_pl.runtime.workers`): the batch
runs once under ``timeout_s``; if it raises or times out, each completion is retried
alone under its own ``timeout_s``, in parallel on the runner's workers, so exactly the
bad completions lose their reward. The usual cost of a failure is about
``2 * timeout_s``; with many stuck completions the retry phase can take up to
``ceil(n / n_workers) * timeout_s`` on the process runner (threads run all at once).

Runner choice (trade-off): the default :class:`~mist_pl.runtime.workers.ProcessRunner`
can kill a call stuck inside a C extension, at the price of worker start-up and
pickling; :class:`~mist_pl.runtime.workers.ThreadRunner` is free to start but can only
abandon a stuck call. **An abandoned thread keeps running**: a reward that spins forever
keeps its thread (and a CPU core) for the rest of the run, and every further stuck call
adds one. Use the process runner for rewards that are slow, untrusted or may hang, and
threads only for quick, well-behaved ones. Unpicklable rewards (closures, lambdas) and
environments where processes cannot start (e.g. inside a daemonic worker) fall back to
threads, with that same limit.

Which runner: the config's ``grpo.reward_runner``; where the config names none,
``MIST_PL_REWARD_RUNNER`` (``process`` or ``thread``); else ``process``. A value of the
variable that is neither is refused, and one that disagrees with the config is ignored
with a warning (:func:`runner_kind`).

Both runners judge what a reward returns the same way: a value that is not a list of
numbers (a generator, say) raises :class:`RewardContractError` naming the function, also
when it cannot even be sent back from a worker process.

Part of the runtime core (:mod:`mist_pl.runtime`): it knows the reward protocol but no
task; callers name the modules the shared workers should import up front
(:func:`add_warm_modules`).
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mist_pl.runtime.protocol import RewardFn, columns_at
from mist_pl.runtime.workers import Call, NotPicklable, Outcome, ProcessRunner, ThreadRunner

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
RUNNER_ENV = "MIST_PL_REWARD_RUNNER"
RUNNERS = ("process", "thread")


class RewardContractError(TypeError):
    """A reward function broke the protocol (wrong length or value type): a bug to fix."""


def reward_name(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}"


_runner_lock = threading.Lock()
_process_runner: ProcessRunner | None = None
_process_runner_broken = False
_thread_runner = ThreadRunner()
_warm_modules: list[str] = []


def add_warm_modules(modules: Sequence[str]) -> None:
    """Have the shared process workers import ``modules`` before they report ready, so a
    reward's first call is not charged the seconds RDKit/pymatgen take to import. Applies
    to workers started from now on (the shared pool starts on the first call)."""
    with _runner_lock:
        for name in modules:
            if name not in _warm_modules:
                _warm_modules.append(name)
        if _process_runner is not None:
            _process_runner.warm_modules = tuple(_warm_modules)


def runner_kind(configured: str | None = None) -> str:
    """The reward runner to use: ``configured`` (the config's choice) if given, else
    ``$MIST_PL_REWARD_RUNNER`` if set, else ``process``. Call it at start-up: an unknown
    value of the variable raises ``ValueError`` naming it, and a value that disagrees
    with the config is reported (the config wins)."""
    from_env = os.environ.get(RUNNER_ENV)
    if from_env is not None and from_env not in RUNNERS:
        raise ValueError(f"{RUNNER_ENV}={from_env!r} is not one of {RUNNERS}")
    if configured is None:
        return from_env or "process"
    if configured not in RUNNERS:
        raise ValueError(f"reward runner {configured!r} is not one of {RUNNERS}")
    if from_env is not None and from_env != configured:
        log.warning("%s=%r is ignored: the config sets grpo.reward_runner=%r", RUNNER_ENV, from_env, configured)
    return configured


def default_runner(kind: str | None = None) -> ProcessRunner | ThreadRunner:
    """The shared runner of ``kind`` (default: :func:`runner_kind`): the process pool, or
    the thread runner for ``thread`` or when processes are broken."""
    global _process_runner, _process_runner_broken
    if (kind or runner_kind()) == "thread" or _process_runner_broken:
        return _thread_runner
    with _runner_lock:
        if _process_runner is None:
            try:
                runner = ProcessRunner(warm_modules=_warm_modules)
                runner.start()
                _process_runner = runner
            except Exception as error:  # noqa: BLE001 - e.g. no /dev/shm, process limits
                log.warning("reward worker processes unavailable (%s); using threads", error)
                _process_runner_broken = True
                return _thread_runner
        return _process_runner


def _run(runner: Any, calls: list[Call], timeout_s: float) -> list[Outcome]:
    try:
        return runner.run(calls, timeout_s)
    except NotPicklable as error:
        # Closures and lambdas cannot cross a process boundary: run them in threads.
        log.debug("reward not picklable (%s); running it in threads", error)
        return _thread_runner.run(calls, timeout_s)


def _refuse_unsent(fn: Any, outcome: Outcome, n: int) -> None:
    """A value a worker process could not send back is judged as the thread runner judges
    the value itself: not a list, or a list of things that are not numbers."""
    if outcome.status != "unsent":
        return
    if outcome.value not in ("list", "tuple"):
        raise RewardContractError(f"reward function {reward_name(fn)} returned {outcome.value}, expected a list of {n} floats or None")
    raise RewardContractError(f"reward function {reward_name(fn)} returned a {outcome.value} holding values that are not "
                              f"numbers ({outcome.detail}), expected {n} floats or None")


def _check_list(fn: Any, value: Any, n: int) -> list:
    if not isinstance(value, (list, tuple)):
        raise RewardContractError(f"reward function {reward_name(fn)} returned {type(value).__name__}, expected a list of {n} floats or None")
    if len(value) != n:
        raise RewardContractError(f"reward function {reward_name(fn)} returned {len(value)} values for {n} completions")
    return list(value)


def _check_value(fn: Any, value: Any) -> float | None:
    """A float, or None for "skip"; NaN/inf also become None (caller counts them)."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, str):
        return float(value)
    raise RewardContractError(f"reward function {reward_name(fn)} returned a {type(value).__name__} ({value!r:.60}), expected float or None")


def safe_reward_call(
    fn: RewardFn,
    completions: Sequence[Any],
    columns: Mapping[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    runner: Any = None,
) -> tuple[list[float | None], int]:
    """Run ``fn(completions, **columns)`` safely; returns ``(rewards, n_failed)``.

    ``rewards[i]`` is a float or ``None`` (skipped: the function said so, or it failed
    on completion ``i``); ``n_failed`` counts the failures (exception, timeout,
    non-finite value) among them. Raises :class:`RewardContractError` for protocol
    violations. ``runner`` defaults to :func:`default_runner`; works from any thread.
    """
    completions = list(completions)
    columns = dict(columns or {})
    n = len(completions)
    if n == 0:
        return [], 0
    runner = runner or default_runner()

    (batch,) = _run(runner, [Call(fn, (completions,), columns)], timeout_s)
    _refuse_unsent(fn, batch, n)
    if batch.ok:
        values = _check_list(fn, batch.value, n)
        return _finish(fn, [_check_value(fn, v) for v in values], failed=[False] * n)

    log.warning("reward %s failed on a batch of %d (%s); retrying completions one by one", reward_name(fn), n, batch.detail)
    singles = [Call(fn, ([c],), columns_at(columns, i)) for i, c in enumerate(completions)]
    rewards: list[float | None] = []
    failed: list[bool] = []
    first_error = ""
    for outcome in _run(runner, singles, timeout_s):
        _refuse_unsent(fn, outcome, 1)
        if outcome.ok:
            (value,) = _check_list(fn, outcome.value, 1)
            rewards.append(_check_value(fn, value))
            failed.append(False)
        else:
            rewards.append(None)
            failed.append(True)
            first_error = first_error or outcome.detail
    if any(failed):
        log.warning("reward %s: %d of %d completions got no reward; first failure: %s", reward_name(fn), sum(failed), n, first_error)
    return _finish(fn, rewards, failed)


def _finish(fn: Any, rewards: list[float | None], failed: list[bool]) -> tuple[list[float | None], int]:
    n_nonfinite = 0
    for i, value in enumerate(rewards):
        if value is not None and not math.isfinite(value):
            rewards[i], failed[i] = None, True
            n_nonfinite += 1
    if n_nonfinite:
        log.warning("reward %s returned %d non-finite value(s); those completions get no reward", reward_name(fn), n_nonfinite)
    return rewards, sum(failed)
