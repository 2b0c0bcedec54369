"""The two resume checks the CLI runs around ``trainer.fit`` (see :mod:`mist_pl.cli`)."""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import lightning as L

from mist_pl.checkpoints.compat import CheckpointMismatchError, check_before_resume, explain_restore_failure
from mist_pl.checkpoints.location import automatic_version_root, checkpoint_dir
from mist_pl.checkpoints.resolve import resolve_ckpt_path
from mist_pl.checkpoints.validate import unsafe


def prepare_resume(trainer: L.Trainer, module: L.LightningModule, ckpt_path: str | None) -> str | None:
    """Resolve ``last`` to the newest complete checkpoint, check a named one, and compare
    the checkpoint's module class and model settings with this run's.

    ``last`` looks in the run's checkpoint folder; when the logger picks its version by
    itself (a new ``version_N`` every start), in the checkpoint folders of every version
    of the run (``<save_dir>/<name>/*/checkpoints``), since this start's own is new. A
    configured version (``job_<id>`` in the SLURM scripts) stays separate: a new job
    starts fresh instead of continuing another one."""
    folder: Path | list[Path] = Path(".")
    if ckpt_path == "last":
        root = automatic_version_root(trainer)  # before checkpoint_dir fixes the version
        folder = checkpoint_dir(trainer)
        if root is not None:
            folder = sorted({folder, *(p / "checkpoints" for p in root.glob("*") if p.is_dir())})
    path = resolve_ckpt_path(ckpt_path, folder)
    if path is not None and Path(path).exists():
        check_before_resume(path, dict(module.hparams))
    return path


@contextlib.contextmanager
def explained_restore(module: L.LightningModule, ckpt_path: str | None):
    """Re-raise a failure of a resumed run as :class:`CheckpointMismatchError` naming the
    differing parameter shapes, when that is what went wrong; a checkpoint that Lightning's
    ``weights_only`` restore refused, as :class:`UnsafeCheckpointError` naming the opt-in."""
    try:
        yield
    except CheckpointMismatchError:
        raise
    except pickle.UnpicklingError as error:
        if not ckpt_path:
            raise
        raise unsafe(ckpt_path, error) from None
    except Exception as error:
        if ckpt_path and Path(ckpt_path).exists() and any(True for _ in module.parameters()):
            explained = explain_restore_failure(ckpt_path, module, dict(module.hparams))
            if explained is not None:
                raise explained from error
        raise
