"""Which checkpoint ``--ckpt_path`` means: ``last`` becomes the newest *complete* checkpoint.

Lightning's own ``last`` picks the newest ``last*.ckpt`` by modification time, complete or
not. Here every checkpoint in the run's folder is a candidate (``last.ckpt`` as well as
``step=...`` files), newest first, and the first one that passes
:func:`~mist_pl.checkpoints.validate.check_checkpoint` wins; skipped ones are named in a
warning. The file that is resumed, named or found, passes the deep check too: the CRC of
every record of a single-file checkpoint, because damaged bytes of the right length pass
the structural check and would load as garbage weights. It reads the file once, as the
restore does next (so the restore then reads from the page cache). A sharded folder has no
checksums: its check is structural (index, metadata, every shard as long as the index says). A checkpoint that could run code is not skipped but an error: someone put it in
the run's folder, and whether to trust it is the user's decision. Every rank computes the
same answer from the same files, so no collective is needed before the process group
exists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence, Union

from lightning.fabric.utilities.rank_zero import rank_zero_only, rank_zero_warn

from mist_pl.checkpoints.validate import SHARDED_META, CheckpointError, UnsafeCheckpointError, check_checkpoint

log = logging.getLogger(__name__)

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
        return (marker if marker.is_file() else path).stat().st_mtime

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
