"""Checkpoints made without a training run (the tiny model's weights, saved as Lightning
saves them) and damage done to them, for the export and loading tests."""

from __future__ import annotations

import dataclasses
import struct
import zipfile
from pathlib import Path

import torch

from mist_pl.models.factory import ModelConfig


def checkpoint_of(model: torch.nn.Module, path: Path) -> Path:
    """``model`` (the tiny preset) as a Lightning checkpoint file of a mist-pl module."""
    torch.save({"global_step": 0, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"lm": dataclasses.asdict(ModelConfig())}}, path)
    return path


def flip_byte(path: Path, member: str, at: int = 0) -> None:
    """Flip one byte of the stored data of the archive record ending in ``member`` (its
    ``at``-th byte): the size and the zip structure stay intact, as with bit rot."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member))
    data = bytearray(path.read_bytes())
    # The local header is 30 bytes, then the name and the extra field, then the data.
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_length + extra_length + at] ^= 0xFF
    path.write_bytes(bytes(data))


def largest_tensor(path: Path) -> str:
    """The archive record of the checkpoint's largest tensor (the embeddings)."""
    with zipfile.ZipFile(path) as archive:
        return max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size).filename
