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
lists it and its file exists.
"""

from __future__ import annotations

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


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {"format": FORMAT, "sources": {}}
    manifest = json.loads(path.read_text())
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
