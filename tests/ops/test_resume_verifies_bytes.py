"""The checkpoint a run resumes from is verified byte for byte (the CRC of every record of
the archive): a file with damaged bytes but the right size passed the quick structural
check and loaded garbage weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_checkpoint_validation import age, lightning_like

from mist_pl.checkpoints.resolve import NoValidCheckpointError, resolve_ckpt_path
from mist_pl.checkpoints.validate import CheckpointError, check_checkpoint


def rot(path: Path) -> None:
    """Flip one byte inside the tensor data: same size, structure intact."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    check_checkpoint(path)  # the quick check cannot see it


def test_last_skips_a_checkpoint_with_damaged_bytes(tmp_path):
    older = lightning_like(tmp_path / "step=2.ckpt", 2)
    age(older, 30)
    last = lightning_like(tmp_path / "last.ckpt", 4)
    rot(last)
    with pytest.warns(UserWarning, match=r"resuming from .*step=2.ckpt.*last.ckpt: corrupt data .*CRC"):
        assert resolve_ckpt_path("last", tmp_path) == str(older)
    rot(older)
    with pytest.raises(NoValidCheckpointError, match="CRC"):
        resolve_ckpt_path("last", tmp_path)


def test_a_named_checkpoint_with_damaged_bytes_is_refused(tmp_path):
    good = lightning_like(tmp_path / "step=2.ckpt", 2)
    age(good, 10)
    rotten = lightning_like(tmp_path / "step=4.ckpt", 4)
    rot(rotten)
    with pytest.raises(CheckpointError, match=r"step=4.ckpt: corrupt data .*CRC.*next to it is .*step=2.ckpt"):
        resolve_ckpt_path(str(rotten), tmp_path)
