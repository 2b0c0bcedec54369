"""Tokenized shards (Arrow IPC files) and the manifest that says which are finished.

A shard is one Arrow IPC file (``<source>/shard-00003.arrow``) with a row per document:
``input_ids: list<int32>`` (tokens, no EOS: the packer adds separators to text
documents) and ``origin: string`` (``file:line``). Shards of chat (SFT) sources have a
third column, ``loss_mask: list<uint8>``, aligned with ``input_ids`` (1 = the token is
trained, 0 = prompt). The column is optional rather than a new format version: text
shards are written exactly as before (same bytes, same fingerprints, nothing to
rebuild), and a shard without the column is read as "train every token". Arrow IPC rather than parquet because training memory-maps the
files: a worker touches only the pages of the documents it packs, and forked or spawned
dataloader workers share the page cache instead of copying the corpus.

Durability: a shard is written under a temporary name and renamed (atomic on POSIX), and
the manifest is rewritten the same way after each finished shard. A killed ``prepare``
therefore leaves only whole shards, and a shard counts as finished only when the manifest
lists it with its size and sha256 and the file still has exactly those bytes
(:func:`shard_problem`). That check runs on every ``prepare`` rerun (a shard that fails it
is rebuilt) and when training opens the shards (a shard that fails it is refused): a disk
error, a partial copy or a stray write never reaches the model as token ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pyarrow as pa

MANIFEST = "manifest.json"
FORMAT = "mist-pl-shards/1"
SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32())), ("origin", pa.string())])
LOSS_MASK = "loss_mask"
CHAT_SCHEMA = SCHEMA.append(pa.field(LOSS_MASK, pa.list_(pa.uint8())))
HASH_BLOCK_BYTES = 1 << 20  # files are hashed 1 MiB at a time, never read whole


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.arrow"


def write_shard(
    path: Path,
    token_lists: Sequence[Sequence[int]],
    origins: Sequence[str],
    loss_masks: Optional[Sequence[Sequence[int]]] = None,
) -> None:
    """Write one shard atomically (temporary file in the same folder, then rename).

    ``loss_masks`` (chat sources only) adds the ``loss_mask`` column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {
        "input_ids": pa.array(token_lists, type=pa.list_(pa.int32())),
        "origin": pa.array(list(origins), type=pa.string()),
    }
    schema = SCHEMA
    if loss_masks is not None:
        columns[LOSS_MASK] = pa.array([np.asarray(m, dtype=np.uint8) for m in loss_masks], type=pa.list_(pa.uint8()))
        schema = CHAT_SCHEMA
    table = pa.table(columns, schema=schema)
    tmp = _temporary_name(path)
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (hex), read in blocks: the manifest's record of a
    finished shard, checked before the shard is trusted again."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def shard_record(path: Path) -> dict[str, Any]:
    """What the manifest stores to recognise a finished shard's bytes later."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def shard_problem(path: Path, entry: Optional[dict[str, Any]]) -> Optional[str]:
    """Why the file at ``path`` is not the shard its manifest ``entry`` describes, or None
    when it is: missing, listed without a checksum (written before checksums existed), of
    another size (truncated or appended to) or with other bytes (damaged in place)."""
    if not path.is_file():
        return "missing"
    if not entry or "sha256" not in entry:
        return "the manifest holds no checksum for it (prepared by an older mist-pl)"
    size = path.stat().st_size
    if size != entry.get("bytes", size):
        return f"{size} bytes, not the {entry['bytes']} the manifest recorded (truncated or appended to)"
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        return f"sha256 {digest[:16]}..., not the {entry['sha256'][:16]}... the manifest recorded (bytes damaged)"
    return None


def map_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(values, offsets)`` of a shard, memory-mapped: document d is ``values[offsets[d]:offsets[d+1]]``."""
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    column = table.column("input_ids").combine_chunks()  # zero-copy for a single record batch
    offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    values = column.values.to_numpy(zero_copy_only=True)
    return values, offsets


def map_loss_mask(path: Path) -> Optional[np.ndarray]:
    """The flat ``loss_mask`` values of a shard (offsets are those of ``input_ids``), or
    None for a shard without the column (a text source: every token is trained)."""
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    if LOSS_MASK not in table.column_names:
        return None
    return table.column(LOSS_MASK).combine_chunks().values.to_numpy(zero_copy_only=True)


class ManifestError(ValueError):
    """A manifest that cannot be read (cut short, emptied, not a manifest): none of the
    checksums it held can be trusted. The message names the file."""


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder`` (an empty one when there is none); :class:`ManifestError`
    when the file is damaged."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {"format": FORMAT, "sources": {}}
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ManifestError(f"{path}: cut short or damaged ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), dict):
        raise ManifestError(f"{path}: damaged: not a JSON object with a 'sources' mapping")
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}; delete the folder to rebuild")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Rewrite the manifest atomically so a crash never leaves half a JSON file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(folder / MANIFEST)
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, folder / MANIFEST)


def _temporary_name(path: Path) -> Path:
    # Same folder (rename stays atomic), unique per writer, hidden, created with the umask.
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
