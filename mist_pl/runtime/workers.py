"""Run calls under a wall-clock deadline without ``signal.alarm``.

``signal.alarm`` only works in the main thread of the main process, so a reward timed
out that way breaks inside dataloader workers, Lightning's threads and DDP helpers.
Two runners offer one interface, :meth:`run(calls, timeout_s) -> list[Outcome]`:

* :class:`ProcessRunner` (default): persistent worker processes started with the
  ``spawn`` context (safe next to CUDA and threads, unlike ``fork``). A call past its
  deadline is *killed* with its worker, which is replaced, so a stuck C extension
  (RDKit, spglib) cannot hold a CPU forever. Costs: each worker imports the reward
  modules once (seconds), calls and results are pickled, and only picklable
  (module-level) functions can run there.
* :class:`ThreadRunner`: one daemon thread per call. Works for any callable and costs
  nothing to start, but a thread cannot be killed: a stuck call is abandoned (counted
  in :attr:`ThreadRunner.abandoned`) and keeps its CPU until it returns, which for a
  call that never returns is until the process ends. Only for quick, trusted calls.

:mod:`mist_pl.runtime.safety` uses the process runner when it can and falls back to
threads for unpicklable functions or when processes cannot be started.

Part of the runtime core (:mod:`mist_pl.runtime`): it imports nothing first-party.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import multiprocessing as mp
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)

WORKER_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Call:
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict | None = None


@dataclass(frozen=True)
class Outcome:
    """``status`` is "ok" (``value`` set), "error" or "timeout" (``detail`` says why), or
    "unsent": the call returned, but its value could not be pickled back from a worker
    process (``value`` is the name of its type, ``detail`` the pickling error)."""

    status: str
    value: Any = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class NotPicklable(TypeError):
    """The call cannot be sent to a worker process; run it in a thread instead."""


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


# ---------------------------------------------------------------------------- threads


class ThreadRunner:
    """Run each call in its own daemon thread; abandon (cannot kill) calls past the deadline."""

    def __init__(self) -> None:
        self.abandoned = 0

    def run(self, calls: Sequence[Call], timeout_s: float) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(calls)

        def target(i: int, call: Call) -> None:
            try:
                results[i] = Outcome("ok", call.fn(*call.args, **(call.kwargs or {})))
            except BaseException as error:  # noqa: BLE001 - reported, never raised
                results[i] = Outcome("error", detail=_describe_error(error))

        threads = [threading.Thread(target=target, args=(i, c), daemon=True, name="mist-reward") for i, c in enumerate(calls)]
        deadline = time.monotonic() + timeout_s
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        outcomes = []
        for i, t in enumerate(threads):
            if t.is_alive() or results[i] is None:
                self.abandoned += 1
                outcomes.append(Outcome("timeout", detail=f"no result within {timeout_s:g} s (thread abandoned: it runs "
                                                          "on until the call returns; the process runner kills such calls)"))
            else:
                outcomes.append(results[i])
        return outcomes

    def close(self) -> None:
        pass


# -------------------------------------------------------------------------- processes


def _worker_main(conn: Connection, warm_modules: tuple[str, ...]) -> None:
    for name in warm_modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - a warm-up failure only costs time later
            log.warning("reward worker could not import %s: %s", name, error)
    conn.send(("ready", None))
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not payload:  # the parent's "stop" message
            return
        try:
            call: Call = pickle.loads(payload)  # from our own parent process only
            reply = ("ok", call.fn(*call.args, **(call.kwargs or {})))
        except BaseException as error:  # noqa: BLE001 - reported, never raised
            reply = ("error", _describe_error(error))
        try:
            conn.send(reply)
        except Exception as error:  # noqa: BLE001 - e.g. a generator, a lock
            conn.send(("unsent", (type(reply[1]).__name__, _describe_error(error))))


class _Worker:
    def __init__(self, ctx: Any, warm_modules: tuple[str, ...]):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, warm_modules), daemon=True, name="mist-reward-worker")
        self.process.start()
        child.close()
        self.ready = False
        self.task: int | None = None  # index of the call it is running
        self.deadline = 0.0  # monotonic time by which that call must finish

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(timeout=5)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        self.conn.close()


class ProcessRunner:
    """A small pool of persistent spawn-context workers with kill-on-deadline.

    Not a ``ProcessPoolExecutor``: that cannot terminate one running task before
    Python 3.14, and a pool whose worker is stuck must be torn down as a whole.
    Here each worker has its own pipe, so exactly the late calls are killed.
    """

    def __init__(self, n_workers: int | None = None, warm_modules: Sequence[str] = ()):
        """``warm_modules``: modules each fresh worker imports before it reports ready,
        so a call's first run is not charged the seconds RDKit/pymatgen take to import
        (the caller knows which; this layer knows no tasks). Workers started later use
        the current value of :attr:`warm_modules`."""
        self.n_workers = n_workers or max(1, min(4, (os.cpu_count() or 2)))
        self.warm_modules = tuple(warm_modules)
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # one run at a time; results map to callers by index
        self.killed = 0
        atexit.register(self.close)

    # -- pool upkeep

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.warm_modules)
        self._workers.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.remove(worker)
        self._spawn()

    def _await_ready(self, deadline: float) -> None:
        pending = {w.conn: w for w in self._workers if not w.ready}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for conn in wait(list(pending), timeout=left):
                worker = pending.pop(conn)
                try:
                    worker.ready = conn.recv()[0] == "ready"
                except (EOFError, OSError):
                    self._replace(worker)  # died while importing; try once more later

    def start(self) -> None:
        """Start missing workers; the first time wait for all, later for any to be ready.

        Raises ``RuntimeError`` if no worker becomes ready.
        """
        while len(self._workers) < self.n_workers:
            self._spawn()
        if not any(w.ready for w in self._workers):
            self._await_ready(time.monotonic() + WORKER_START_TIMEOUT_S)
        if not any(w.ready for w in self._workers):
            raise RuntimeError(f"no reward worker became ready within {WORKER_START_TIMEOUT_S:g} s")

    # -- running

    def run(self, calls: Sequence[Call], timeout_s: float) -> list[Outcome]:
        """Run ``calls`` on the workers; each call gets ``timeout_s`` from when it starts.

        A call past its deadline is killed with its worker (replaced in the background)
        while the other workers go on with the queue, so one stuck call costs one
        completion its reward, not the batch. Worst case, when many calls hang, the
        wall time is about ``ceil(len(calls) / n_workers) * timeout_s``. Raises
        :class:`NotPicklable` if a call cannot be sent to a process.
        """
        with self._lock:
            self.start()
            return self._run(list(calls), timeout_s)

    def _run(self, calls: list[Call], timeout_s: float) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(calls)
        queue = list(range(len(calls)))[::-1]  # pop() from the end = first call first
        no_worker_since: float | None = None
        while queue or self._busy():
            now = time.monotonic()
            self._dispatch(calls, queue, outcomes, now + timeout_s)
            busy = self._busy()
            if queue and not busy and not any(w.ready for w in self._workers):
                # Every worker is (re)starting: wait for one, but not forever.
                no_worker_since = no_worker_since or now
                if now - no_worker_since > WORKER_START_TIMEOUT_S:
                    break
            else:
                no_worker_since = None
            wake = min((w.deadline for w in busy), default=now + 1.0)
            conns = [w.conn for w in self._workers if w.task is not None or not w.ready]
            ready_conns = wait(conns, timeout=max(0.0, wake - now)) if conns else []
            by_conn = {w.conn: w for w in self._workers}
            for conn in ready_conns:
                if conn in by_conn:
                    self._receive(by_conn[conn], outcomes)
            now = time.monotonic()
            for worker in self._busy():
                if now >= worker.deadline:  # it may be stuck in C: only a kill stops it
                    outcomes[worker.task] = Outcome("timeout", detail=f"killed after {timeout_s:g} s")
                    self.killed += 1
                    self._replace(worker)
        return [o or Outcome("timeout", detail="no reward worker became ready") for o in outcomes]

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.task is not None]

    def _dispatch(self, calls: list[Call], queue: list[int], outcomes: list[Outcome | None], deadline: float) -> None:
        for worker in self._workers:
            if not queue:
                return
            if worker.ready and worker.task is None:
                index = queue[-1]
                try:
                    payload = pickle.dumps(calls[index])
                except Exception as error:  # noqa: BLE001 - lambdas, closures, locks...
                    for busy in self._busy():  # leave no worker on a half-run batch
                        self._replace(busy)
                    raise NotPicklable(_describe_error(error)) from error
                queue.pop()
                worker.conn.send_bytes(payload)
                worker.task, worker.deadline = index, deadline

    def _receive(self, worker: _Worker, outcomes: list[Outcome | None]) -> None:
        try:
            status, value = worker.conn.recv()
        except (EOFError, OSError):  # the worker died (segfault, OOM kill)
            if worker.task is not None:
                outcomes[worker.task] = Outcome("error", detail="reward worker process died")
            self._replace(worker)
            return
        if status == "ready":
            worker.ready = True
        elif worker.task is not None:
            if status == "unsent":
                outcomes[worker.task] = Outcome("unsent", value[0], detail=value[1])
            else:
                outcomes[worker.task] = Outcome("ok", value) if status == "ok" else Outcome("error", detail=value)
            worker.task = None

    def close(self) -> None:
        """Stop the workers (idempotent; also runs at interpreter exit)."""
        for worker in self._workers:
            try:
                worker.conn.send_bytes(b"")
                worker.process.join(timeout=1)
            except Exception:  # noqa: BLE001 - it is killed below either way
                pass
            worker.kill()
        self._workers.clear()
