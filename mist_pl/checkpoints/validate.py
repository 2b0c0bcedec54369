"""Is a checkpoint complete? Cheap checks that catch partial and corrupt writes.

Lightning writes ``last.ckpt`` in place, so a job killed while saving leaves a truncated
file (and has already destroyed the previous one). A single-file checkpoint is a zip
archive whose directory sits at the end: a truncated file has none. A sharded checkpoint
(ModelParallelStrategy, a folder) is complete when its ``.metadata`` and ``meta.pt`` load
and every shard file is as long as the metadata says.

The checks read the archive directory and the pickled metadata, not the tensors, so every
rank can run them on a multi-GB checkpoint in well under a second. ``deep=True`` also
verifies the CRC of every byte of a single-file checkpoint (bit rot; slow on big files):
:func:`verify_bytes`, which every other load of a file (export, ``init_from_ckpt``,
eval) runs too.

A checkpoint is a pickle, and unpickling can call any function: a file dropped into the
run's folder, or downloaded, could run code on every rank. So nothing here unpickles
more than tensors and plain data (``weights_only=True``; for a sharded folder, whose index
and non-tensor values torch.distributed.checkpoint later unpickles without limits, the
same rule is applied first). A checkpoint that needs more fails with
:class:`UnsafeCheckpointError`, naming the file and the opt-in: the user lists files they
trust in ``MIST_PL_TRUSTED_CHECKPOINTS`` (paths separated by ``os.pathsep``), and only
those are unpickled in full, by the checks and by Lightning's restore alike.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

SHARDED_META = "meta.pt"  # Lightning's non-tensor state inside a sharded checkpoint folder
DCP_METADATA = ".metadata"  # torch.distributed.checkpoint's index of the shards
TRUST_ENV = "MIST_PL_TRUSTED_CHECKPOINTS"  # checkpoints the user trusts to unpickle in full

# All a sharded checkpoint's index may name: torch.distributed.checkpoint's own metadata
# classes, sizes, layouts and paths (dtypes are checked by type). Each only stores values.
DCP_INDEX_GLOBALS = {
    *(("torch.distributed.checkpoint.metadata", name) for name in (
        "Metadata", "MetadataIndex", "StorageMeta", "TensorStorageMetadata", "TensorProperties",
        "ChunkStorageMetadata", "BytesStorageMetadata", "_MEM_FORMAT_ENCODING")),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch", "Size"), ("torch.serialization", "_get_layout"), ("torch._utils", "_get_layout"),
    ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"), ("collections", "OrderedDict"),
}


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or unreadable."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds more than tensors and plain data: loading it could run code."""


def trusted(path: str | Path) -> bool:
    """Whether the user listed ``path`` in ``MIST_PL_TRUSTED_CHECKPOINTS``: the only
    checkpoints unpickled in full. Trust is per file, so a file dropped next to a trusted
    one (and picked by ``--ckpt_path last``) is still checked."""
    listed = [item for item in os.environ.get(TRUST_ENV, "").split(os.pathsep) if item]
    here = Path(path).expanduser().resolve()
    return any(Path(item).expanduser().resolve() == here for item in listed)


def unsafe(path: str | Path, error: Exception | str) -> UnsafeCheckpointError:
    """The error for a checkpoint that needs more than plain data: which file, what it
    names (``os.system``...), and the opt-in, ready to copy."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f"it names {found.group(1)}" if found else str(error).splitlines()[0]
    return UnsafeCheckpointError(
        f"{path}: refused: it holds more than tensors and plain data ({what}), so loading it could run code; "
        f"nothing was loaded from it. If you trust this file (you wrote it, or know where it came from), "
        f"list it in {TRUST_ENV} and rerun: {TRUST_ENV}={Path(path).resolve()}"
    )


def check_checkpoint(path: str | Path, deep: bool = False) -> None:
    """Raise :class:`CheckpointError` naming the problem if ``path`` is not a complete checkpoint."""
    path = Path(path)
    if path.is_dir():
        _check_sharded(path)
    elif path.is_file():
        _check_file(path, deep)
    elif path.is_symlink():
        raise CheckpointError(f"{path}: dangling symlink to {os.readlink(path)}")
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")


def load_metadata(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict without loading tensor data: a file is memory-mapped; of a folder
    only ``meta.pt`` is read (its weights live in the shards). Plain data only, unless the
    user trusts the file (:func:`trusted`); else :class:`UnsafeCheckpointError`."""
    path = Path(path)
    target = path / SHARDED_META if path.is_dir() else path
    if trusted(path):
        return torch.load(target, map_location="cpu", mmap=True, weights_only=False)
    try:
        return torch.load(target, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as error:
        raise unsafe(path, error) from None


def check_safe(path: str | Path) -> None:
    """Raise :class:`UnsafeCheckpointError` if loading ``path`` (a file, or a sharded folder's
    ``meta.pt``, index and values) needs more than plain data, unless the user trusts it."""
    path = Path(path)
    if trusted(path):
        return
    load_metadata(path)
    if path.is_dir():
        sharded_index(path)


class _IndexUnpickler(pickle.Unpickler):
    """Python's documented way to restrict a pickle: only :data:`DCP_INDEX_GLOBALS` and dtypes."""

    def find_class(self, module: str, name: str) -> Any:
        dtype = module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)
        if dtype or (module, name) in DCP_INDEX_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"GLOBAL {module}.{name} is not part of a checkpoint index")


def sharded_index(folder: str | Path):
    """The index (``.metadata``) of a sharded checkpoint, read so that nothing in the folder
    can run code when torch.distributed.checkpoint loads it: it unpickles the index and the
    non-tensor values of the shards (optimizer settings, loop state) without limits, so the
    index is read with only its own types allowed and every value must load as plain data."""
    index = _read_index(Path(folder))
    _check_values(Path(folder), index)
    return index


def _read_index(folder: Path):
    if trusted(folder):
        from torch.distributed.checkpoint import FileSystemReader

        return FileSystemReader(str(folder)).read_metadata()
    with open(folder / DCP_METADATA, "rb") as handle:
        try:
            index = _IndexUnpickler(handle).load()
        except pickle.UnpicklingError as error:
            raise unsafe(folder, error) from None
    from torch.distributed.checkpoint.metadata import Metadata

    if not isinstance(index, Metadata):
        raise CheckpointError(f"{folder}/{DCP_METADATA}: not a checkpoint index ({type(index).__name__})")
    return index


def _check_values(folder: Path, index) -> None:
    if trusted(folder):
        return
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata

    for key, info in (index.storage_data or {}).items():
        if not isinstance(index.state_dict_metadata.get(key.fqn), BytesStorageMetadata):
            continue  # tensors are read as raw bytes, never unpickled
        if getattr(info, "transform_descriptors", None):
            raise unsafe(folder, f"{key.fqn} is stored transformed, which cannot be checked")
        with open(folder / info.relative_path, "rb") as handle:
            handle.seek(info.offset)
            value = io.BytesIO(handle.read(info.length))
        try:
            torch.load(value, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise unsafe(folder, error) from None
        except Exception as error:
            raise CheckpointError(f"{folder}: {key.fqn} in {info.relative_path} cannot be read "
                                  f"({type(error).__name__}: {error})") from None


def verify_bytes(path: str | Path) -> None:
    """Raise :class:`CheckpointError` unless every record of the single-file checkpoint
    ``path`` has the bytes it was written with (its CRC). Every load of a file runs this
    first: torch reads damaged tensor bytes as other weights without a word, and a damaged
    ``data.pkl`` fails to unpickle like a file that names code, so only the CRC tells
    damage from unsafe content. It reads the whole file (the load then reads the page cache)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt ({error})") from None
    if bad is not None:
        raise CheckpointError(f"{path}: corrupt data in {bad} (CRC mismatch): the file is damaged; "
                              "nothing was loaded from it")


def _check_file(path: Path, deep: bool) -> None:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (the save was interrupted)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as error:
        raise CheckpointError(f"{path}: truncated or corrupt ({error})") from None
    if not any(name.endswith("/data.pkl") for name in names):
        raise CheckpointError(f"{path}: not a torch checkpoint (no data.pkl in the archive)")
    if deep:
        verify_bytes(path)
    _check_loads(path)


def _check_loads(path: Path) -> dict:
    try:
        checkpoint = load_metadata(path)
    except UnsafeCheckpointError:
        raise
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
    try:
        metadata = _read_index(path)
    except CheckpointError:
        raise
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
    _check_values(path, metadata)
