"""Checkpoint and stop when the run is told to end: SIGTERM, or SLURM's pre-timeout signal.

Lightning on its own stops after the current batch on SIGTERM but saves nothing, and its
SLURM handler saves an "hpc" checkpoint *inside* the signal handler, i.e. in the middle
of a step: under FSDP2 the ranks are then at different collectives (a hang) and the saved
state mixes two steps (no exact resume). Here the handler only records the signal; at
the next step boundary all ranks agree (one small all-reduce per step), write
``last.ckpt`` atomically, and stop. On the SLURM requeue signal rank 0 then requeues the
job (``scontrol requeue``), whose next start resumes with ``--ckpt_path last``. When the
requeue is not possible (no ``scontrol`` on PATH, as inside many containers, or
``scontrol`` refuses), the checkpoint is kept, the log says so and how to resume, and the
CLI exits with :data:`NOT_REQUEUED_EXIT`, the status of a job SLURM itself stopped.

Installing the SIGUSR1 handler in ``setup`` (before Lightning registers its own) makes
Lightning skip its mid-step handler; its SIGTERM notifier still runs and, together with
the handler here, ends the run after the checkpoint.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mist_pl.checkpoints.resolve import checkpoint_dir

log = logging.getLogger(__name__)

# Exit status after a stop whose requeue failed: 128 + SIGTERM, what a job stopped by SLURM
# (time limit, preemption) ends with. Not 0: the job did not finish; not 1: nothing crashed.
NOT_REQUEUED_EXIT = 128 + signal.SIGTERM


class PreemptionCheckpoint(L.Callback):
    """Save ``last.ckpt`` at the step boundary after a stop signal, then stop (and requeue).

    Args:
        signals: signal names that ask for a checkpoint and a stop.
        requeue_signal: the signal SLURM sends before the time limit (``#SBATCH
            --signal=SIGUSR1@90``); after the checkpoint the job is requeued. Other signals
            (SIGTERM from ``scancel`` or a preemption) only checkpoint and stop.
        requeue: run ``scontrol requeue $SLURM_JOB_ID`` on the requeue signal under SLURM.
            If that fails, :attr:`exit_status` becomes :data:`NOT_REQUEUED_EXIT` and
            :attr:`stop_message` says why and how to resume; the CLI exits with them.
        filename: checkpoint name inside the run's checkpoint folder.
    """

    def __init__(
        self,
        signals: list[str] = ["SIGTERM", "SIGUSR1"],  # noqa: B006 - jsonargparse needs a literal default
        requeue_signal: str = "SIGUSR1",
        requeue: bool = True,
        filename: str = "last.ckpt",
    ) -> None:
        self.signals = [_signal(name) for name in signals]
        self.requeue_signal = _signal(requeue_signal)
        self.requeue = requeue
        self.filename = filename
        self.received: int | None = None  # signal number, set by the handler
        self.received_at: float | None = None
        self.saved_path: Path | None = None
        self.exit_status: int | None = None  # set when a requeue was due and failed
        self.stop_message: str | None = None
        self._previous: dict[int, object] = {}
        self._active = False  # handlers installed and the run not over
        self._trained = False  # a step finished in this run: there is something new to save

    # -- signal handling -------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        self.received, self.received_at, self.saved_path = None, None, None
        self.exit_status, self.stop_message = None, None
        self._trained = False
        for signum in self.signals:
            previous = signal.getsignal(signum)
            owner = getattr(previous, "__self__", None)
            if isinstance(owner, PreemptionCheckpoint):
                # left behind by an earlier run in this process (Lightning re-installs the
                # handlers it found when it tears down): chain to what that one replaced
                previous = owner._previous.get(signum, signal.SIG_DFL)
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        self._active = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        if not self._active or threading.current_thread() is not threading.main_thread():
            return
        self._active = False
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if not self._active:
            # a stale handler (the run is over): behave as if it had never been installed
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            if callable(previous):
                previous(signum, frame)
            elif previous in (None, signal.SIG_DFL):
                os.kill(os.getpid(), signum)
            return
        # Only record: saving here would run collectives in the middle of a step.
        if self.received is None or signum == self.requeue_signal:
            self.received = signum
            self.received_at = time.monotonic()
        if callable(previous):
            previous(signum, frame)

    # -- the step boundary -----------------------------------------------------------------
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        self._trained = True
        stop, requeue = self._agreed(trainer)
        if not stop:
            return
        # A periodic save due at this step goes first: save() marks the step as saved for
        # ModelCheckpoint, whose own hook (called after this one) would then skip it and
        # that step's checkpoint would be lost. Its second call at this step saves nothing.
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint):
                callback.on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self.save(trainer)
        if requeue and self.requeue:
            self._requeue(trainer)
        trainer.should_stop = True

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # Lightning raises SIGTERMException where it checks the flag (also between steps,
        # e.g. during validation); the last finished step is then saved here. Not before
        # the first step: that would replace a good last.ckpt by the state it was loaded from.
        if isinstance(exception, SIGTERMException) and self.saved_path is None and self._active and self._trained:
            self.save(trainer)
        self._restore_handlers()  # Lightning skips the teardown hooks after an exception

    def _agreed(self, trainer: L.Trainer) -> tuple[bool, bool]:
        """(some rank got a stop signal, some rank got the requeue signal), same on all ranks."""
        local = torch.tensor(
            [float(self.received is not None), float(self.received == self.requeue_signal)],
            device=trainer.strategy.root_device,
        )
        if trainer.world_size > 1:
            local = trainer.strategy.reduce(local, reduce_op="max")
        return bool(local[0] > 0), bool(local[1] > 0)

    def save(self, trainer: L.Trainer) -> Path:
        """Write the checkpoint under a temporary name and rename it, so a kill mid-write
        never destroys the previous ``last.ckpt``."""
        folder = checkpoint_dir(trainer)
        final = folder / self.filename
        temporary = folder / (self.filename + ".tmp")
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            _remove(temporary)
        trainer.strategy.barrier("preemption-save-start")
        trainer.save_checkpoint(temporary)
        if trainer.is_global_zero:
            _replace(temporary, final)
        trainer.strategy.barrier("preemption-save-end")
        self.saved_path = final
        for callback in trainer.checkpoint_callbacks:
            # Tell ModelCheckpoint this step is saved, as its last checkpoint: otherwise the
            # stop makes it save the same step again (as last-v1.ckpt), which on a big model
            # costs much of the time left before the kill.
            # (Private attributes of Lightning 2.x's ModelCheckpoint; without them: one more save.)
            if Path(getattr(callback, "dirpath", "") or "") == folder and hasattr(callback, "last_model_path"):
                callback.last_model_path = str(final)
                if hasattr(callback, "_last_global_step_saved"):
                    callback._last_global_step_saved = trainer.global_step
                if hasattr(callback, "_last_checkpoint_saved"):
                    callback._last_checkpoint_saved = str(final)
        waited = f" {time.monotonic() - self.received_at:.1f} s after the signal" if self.received_at else ""
        name = signal.Signals(self.received).name if self.received else "stop request"
        if trainer.is_global_zero:
            log.warning("%s: saved %s at global step %d%s; stopping", name, final, trainer.global_step, waited)
        return final

    def _requeue(self, trainer: L.Trainer) -> None:
        array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
        if not trainer.is_global_zero or not job:
            return
        try:
            result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
        except OSError as error:
            reason = f"scontrol could not be run ({error.strerror}; inside a container, scontrol is often not on PATH)"
        else:
            if result.returncode == 0:
                log.warning("requeued SLURM job %s; it resumes from %s", job, self.saved_path)
                return
            reason = f"scontrol requeue {job} failed ({result.returncode}): {result.stderr.strip()}"
        self.exit_status = NOT_REQUEUED_EXIT
        self.stop_message = (
            f"SLURM job {job} was not requeued: {reason}. The checkpoint {self.saved_path} is complete; resubmit "
            f"the job with RUN_VERSION=job_{os.environ.get('SLURM_JOB_ID', job)} to resume from it "
            f"(scripts/slurm/README.md). Exit status {NOT_REQUEUED_EXIT}."
        )
        log.error("%s", self.stop_message)


def _signal(name: str) -> int:
    try:
        return int(getattr(signal, name if name.startswith("SIG") else f"SIG{name}"))
    except AttributeError:
        raise ValueError(f"unknown signal {name!r}") from None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _replace(source: Path, target: Path) -> None:
    """Rename ``source`` over ``target``. A file is replaced atomically; a sharded folder
    in two renames, the old one kept as ``*-previous.ckpt`` until the new one is in place
    (so some complete checkpoint exists at every moment)."""
    if source.is_file() and not target.is_dir():
        os.replace(source, target)
        return
    previous = target.with_name(target.stem + "-previous" + target.suffix)
    _remove(previous)
    if target.exists():
        os.replace(target, previous)
    os.replace(source, target)
    _remove(previous)
