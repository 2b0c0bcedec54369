"""Is a checkpoint complete? Cheap checks that catch partial and corrupt writes.

Lightning writes ``last.ckpt`` in place, so a job killed while saving leaves a truncated
file (and has already destroyed the previous one). A single-file checkpoint is a zip
archive whose directory sits at the end: a truncated file has none. A sharded checkpoint
(ModelParallelStrategy, a folder) is complete when its ``.metadata`` and ``meta.pt`` load
and every shard file is as long as the metadata says.

The checks read the archive directory and the pickled metadata, not the tensors, so every
rank can run them on a multi-GB checkpoint in well under a second. ``deep=True`` also
verifies the CRC of every byte of a single-file checkpoint (bit rot; slow on big files).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

SHARDED_META = "meta.pt"  # Lightning's non-tensor state inside a sharded checkpoint folder
DCP_METADATA = ".metadata"  # torch.distributed.checkpoint's index of the shards


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or unreadable."""


def check_checkpoint(path: str | Path, deep: bool = False) -> None:
    """Raise :class:`CheckpointError` naming the problem if ``path`` is not a complete checkpoint."""
    path = Path(path)
    if path.is_dir():
        _check_sharded(path)
    elif path.is_file():
        _check_file(path, deep)
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")


def load_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict without loading tensor data: a file is memory-mapped; of a folder
    only ``meta.pt`` is read (its weights live in the shards)."""
    path = Path(path)
    target = path / SHARDED_META if path.is_dir() else path
    try:
        return torch.load(target, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError:
        # Something in the checkpoint is not a plain type; the run's own file, so trust it.
        return torch.load(target, map_location="cpu", mmap=True, weights_only=False)


def _check_file(path: Path, deep: bool) -> None:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (the save was interrupted)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(name.endswith("/data.pkl") for name in names):
                raise CheckpointError(f"{path}: not a torch checkpoint (no data.pkl in the archive)")
            if deep:
                bad = archive.testzip()
                if bad is not None:
                    raise CheckpointError(f"{path}: corrupt data in {bad} (CRC mismatch)")
    except zipfile.BadZipFile as error:
        raise CheckpointError(f"{path}: truncated or corrupt ({error})") from None
    _check_loads(path)


def _check_loads(path: Path) -> dict:
    try:
        checkpoint = load_metadata(path)
    except Exception as error:  # any failure to read means: do not resume from it
        raise CheckpointError(f"{path}: cannot be read ({type(error).__name__}: {error})") from None
    if not isinstance(checkpoint, dict) or "global_step" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no global_step)")
    return checkpoint


def _check_sharded(path: Path) -> None:
    for name in (DCP_METADATA, SHARDED_META):
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: sharded checkpoint without {name} (the save was interrupted)")
    _check_loads(path)
    from torch.distributed.checkpoint import FileSystemReader

    try:
        metadata = FileSystemReader(str(path)).read_metadata()
    except Exception as error:
        raise CheckpointError(f"{path}/{DCP_METADATA}: cannot be read ({type(error).__name__}: {error})") from None
    needed: dict[str, int] = {}
    for info in (metadata.storage_data or {}).values():
        needed[info.relative_path] = max(needed.get(info.relative_path, 0), info.offset + info.length)
    for name, size in sorted(needed.items()):
        shard = path / name
        if not shard.is_file():
            raise CheckpointError(f"{path}: shard {name} is missing")
        if shard.stat().st_size < size:
            raise CheckpointError(f"{path}: shard {name} is truncated ({shard.stat().st_size} of {size} bytes)")
