"""Where a run's checkpoints are, and which checkpoint ``--ckpt_path`` means: ``last``
becomes the newest *complete* checkpoint.

The folder (:func:`checkpoint_dir`) is known before ``trainer.fit`` resolves it; a run
whose logger picks a fresh version by itself looks at the earlier versions' folders too
(:func:`automatic_version_root`).

Lightning's own ``last`` picks the newest ``last*.ckpt`` by modification time, complete or
not. Here every checkpoint in the run's folder is a candidate (``last.ckpt`` as well as
``step=...`` files), newest first, and the first one that passes
:func:`~mist_pl.checkpoints.validate.check_checkpoint` wins; skipped ones are named in a
warning, as is a ``*.ckpt`` symlink whose target is gone. The file that is resumed, named
or found, passes the deep check too: the CRC of every record of a single-file checkpoint,
because damaged bytes of the right length pass the structural check and would load as
garbage weights. It reads the file once, as the restore does next (so the restore then
reads from the page cache). A sharded folder has no checksums: its check is structural
(index, metadata, every shard as long as the index says). A checkpoint that could run code
is not skipped but an error: someone put it in the run's folder, and whether to trust it
is the user's decision. Every rank computes the same answer from the same files, so no
collective is needed before the process group exists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence, Union

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only, rank_zero_warn

from mist_pl.checkpoints.validate import SHARDED_META, CheckpointError, UnsafeCheckpointError, check_checkpoint

log = logging.getLogger(__name__)


# -- the run's checkpoint folder -------------------------------------------------------

def checkpoint_dir(trainer: L.Trainer) -> Path:
    """Where ``ModelCheckpoint`` writes: its ``dirpath``, else
    ``<logger save_dir>/<name>/<version>/checkpoints`` (Lightning's own rule, repeated here
    because ``dirpath`` is only filled in once ``fit`` has started)."""
    callback = trainer.checkpoint_callback
    if callback is not None and getattr(callback, "dirpath", None):
        return Path(callback.dirpath)
    if trainer.loggers:
        logger = trainer.loggers[0]
        save_dir = logger.save_dir or trainer.default_root_dir
        version = logger.version
        version = version if isinstance(version, str) else f"version_{version}"
        return Path(save_dir) / str(logger.name) / version / "checkpoints"
    return Path(trainer.default_root_dir) / "checkpoints"


def automatic_version_root(trainer: L.Trainer) -> Path | None:
    """``<save_dir>/<name>``, the folder of all versions of this run, when the logger will
    pick a fresh version by itself (none configured) and the checkpoints follow it (no
    ``ModelCheckpoint.dirpath``); else None.

    Such a run writes to a new ``version_N+1`` folder, so its own checkpoint folder is
    always empty at start: ``--ckpt_path last`` has to look at the earlier versions. Call
    this before anything reads ``logger.version``, which fixes the automatic choice."""
    callback = trainer.checkpoint_callback
    if callback is not None and getattr(callback, "dirpath", None):
        return None
    if not trainer.loggers:
        return None
    logger = trainer.loggers[0]
    # TensorBoardLogger and CSVLogger keep the configured version in ``_version`` (None: pick
    # the next free one); other loggers name their own folders, which are left alone.
    if not hasattr(logger, "_version") or logger._version is not None:
        return None
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)


# -- which checkpoint to resume --------------------------------------------------------

# ckpt_path values Lightning resolves itself.
LIGHTNING_KEYWORDS = ("best", "hpc", "registry")


class NoValidCheckpointError(CheckpointError):
    """Checkpoints exist but none of them is complete."""


Folders = Union[Path, Sequence[Path]]


def _folders(folder: Folders) -> list[Path]:
    return [Path(folder)] if isinstance(folder, (str, Path)) else [Path(f) for f in folder]


def _describe(folder: Folders) -> str:
    folders = _folders(folder)
    return str(folders[0]) if len(folders) == 1 else "{" + ", ".join(map(str, folders)) + "}"


def candidates(folder: Folders) -> list[Path]:
    """Checkpoints (files or sharded folders named ``*.ckpt``) in ``folder`` (or in any of
    several folders), newest first."""
    found = [p for f in _folders(folder) if f.is_dir() for p in f.iterdir() if p.suffix == ".ckpt"]

    def written(path: Path) -> float:
        # A sharded folder's meta.pt is written last; the folder's own mtime changes earlier.
        marker = path / SHARDED_META
        try:
            return (marker if marker.is_file() else path).stat().st_mtime
        except OSError:  # a dangling symlink: sorted by when it was made, then skipped as unreadable
            return path.lstat().st_mtime

    return sorted(found, key=lambda p: (written(p), p.name), reverse=True)


def first_complete(folder: Folders, deep: bool = True) -> tuple[Path | None, list[str]]:
    """(newest complete checkpoint or None, why each newer one was skipped); ``deep`` also
    verifies the bytes (CRC) of a file before choosing it."""
    skipped = []
    for path in candidates(folder):
        try:
            check_checkpoint(path, deep=deep)
        except UnsafeCheckpointError:
            raise
        except CheckpointError as error:
            skipped.append(str(error))
            continue
        return path, skipped
    return None, skipped


def newest_valid(folder: Folders) -> Path | None:
    """The newest complete checkpoint in ``folder`` (warning about newer broken ones);
    None if there is no checkpoint at all, an error if there are only broken ones."""
    found, skipped = first_complete(folder)
    if found is None and skipped:
        raise NoValidCheckpointError(f"no complete checkpoint in {_describe(folder)}: " + "; ".join(skipped))
    if found is not None and skipped:
        rank_zero_warn(f"resuming from {found}, the newest complete checkpoint; skipped: " + "; ".join(skipped))
    return found


def resolve_ckpt_path(ckpt_path: str | None, folder: Folders) -> str | None:
    """The checkpoint to resume from, checked. ``last`` with no checkpoint yet in ``folder``
    (one folder, or several: the newest complete checkpoint among all of them) means a
    fresh start (as in Lightning: a job script can always pass it); a named file that is
    incomplete is an error, with the newest complete alternative in the message."""
    if ckpt_path is None or ckpt_path in LIGHTNING_KEYWORDS or str(ckpt_path).startswith("registry:"):
        return ckpt_path
    if ckpt_path == "last":
        try:
            found = newest_valid(folder)
        except UnsafeCheckpointError as error:
            raise UnsafeCheckpointError(f"--ckpt_path last: {error}") from None
        if found is None:
            if rank_zero_only.rank == 0:  # every rank resolves; one says so
                log.warning("--ckpt_path last: no checkpoint in %s yet; starting from scratch", _describe(folder))
            return None
        if rank_zero_only.rank == 0:
            log.info("--ckpt_path last: resuming from %s", found)
        return str(found)
    path = Path(ckpt_path)
    try:
        check_checkpoint(path, deep=True)
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(f"--ckpt_path: {error}") from None
    except CheckpointError as error:
        hint = ""
        alternative, _ = first_complete(path.parent)
        if alternative is not None and alternative != path:
            hint = f"; the newest complete checkpoint next to it is {alternative} (or pass --ckpt_path last)"
        raise CheckpointError(f"--ckpt_path: {error}{hint}") from None
    return str(path)
