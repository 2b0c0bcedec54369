"""Partial and corrupt checkpoints are detected; ``last`` falls back to the newest complete one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from mist_pl.checkpoints.resolve import NoValidCheckpointError, resolve_ckpt_path
from mist_pl.checkpoints.validate import CheckpointError, check_checkpoint


def lightning_like(path: Path, step: int) -> Path:
    torch.save({"global_step": step, "state_dict": {"w": torch.randn(64, 64)}}, path)
    return path


def sharded(folder: Path, step: int) -> Path:
    """A sharded checkpoint folder as ModelParallelStrategy writes it (one process)."""
    import torch.distributed.checkpoint as dcp

    dcp.save({"state_dict": {"w": torch.randn(64, 64), "b": torch.randn(64)}}, checkpoint_id=str(folder))
    torch.save({"global_step": step}, folder / "meta.pt")
    return folder


def truncate(path: Path, keep: float = 0.5) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(int(size * keep))


def age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_complete_file_and_folder_pass(tmp_path):
    check_checkpoint(lightning_like(tmp_path / "a.ckpt", 1), deep=True)
    check_checkpoint(sharded(tmp_path / "b.ckpt", 1))


@pytest.mark.parametrize("damage, message", [
    (lambda p: truncate(p), "truncated or corrupt"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(os.urandom(4096)), "truncated or corrupt"),
])
def test_partial_or_corrupt_file_is_named(tmp_path, damage, message):
    path = lightning_like(tmp_path / "last.ckpt", 3)
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        check_checkpoint(path)


def test_bit_rot_is_found_by_the_deep_check(tmp_path):
    path = lightning_like(tmp_path / "last.ckpt", 3)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensor bytes
    path.write_bytes(bytes(data))
    check_checkpoint(path)  # structure intact: the cheap check passes
    with pytest.raises(CheckpointError, match="CRC"):
        check_checkpoint(path, deep=True)


def test_incomplete_sharded_folders_are_named(tmp_path):
    folder = sharded(tmp_path / "s.ckpt", 2)
    shard = next(folder.glob("*.distcp"))
    truncate(shard, 0.3)
    with pytest.raises(CheckpointError, match="truncated"):
        check_checkpoint(folder)
    shard.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        check_checkpoint(folder)
    (folder / ".metadata").unlink()
    with pytest.raises(CheckpointError, match="without .metadata"):
        check_checkpoint(folder)


def test_last_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    older = lightning_like(tmp_path / "step=2.ckpt", 2)
    newer = sharded(tmp_path / "step=4.ckpt", 4)
    last = lightning_like(tmp_path / "last.ckpt", 6)
    age(older, 30), age(newer / "meta.pt", 20)
    assert resolve_ckpt_path("last", tmp_path) == str(last)
    truncate(last)
    with pytest.warns(UserWarning, match=r"step=4.ckpt.*skipped.*last.ckpt"):
        assert resolve_ckpt_path("last", tmp_path) == str(newer)
    (newer / "meta.pt").unlink()
    with pytest.warns(UserWarning, match="step=2.ckpt"):
        assert resolve_ckpt_path("last", tmp_path) == str(older)
    older.write_bytes(b"")
    with pytest.raises(NoValidCheckpointError, match="no complete checkpoint"):
        resolve_ckpt_path("last", tmp_path)


def test_last_without_checkpoints_starts_fresh_and_keywords_pass_through(tmp_path):
    assert resolve_ckpt_path("last", tmp_path / "missing") is None
    assert resolve_ckpt_path(None, tmp_path) is None
    assert resolve_ckpt_path("hpc", tmp_path) == "hpc"


def test_a_named_broken_checkpoint_fails_and_points_to_a_complete_one(tmp_path):
    good = lightning_like(tmp_path / "step=2.ckpt", 2)
    age(good, 10)
    broken = lightning_like(tmp_path / "step=4.ckpt", 4)
    truncate(broken)
    with pytest.raises(CheckpointError, match=r"step=4.ckpt: truncated.*newest complete checkpoint next to it is .*step=2.ckpt"):
        resolve_ckpt_path(str(broken), tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resolve_ckpt_path(str(tmp_path / "nope.ckpt"), tmp_path)
    shutil.rmtree(tmp_path)


def test_last_skips_a_dangling_symlink_with_a_warning(tmp_path):
    """A ``*.ckpt`` link whose target is gone (a cleaned-up scratch folder) crashed ``last``
    with FileNotFoundError while sorting the candidates by time."""
    good = lightning_like(tmp_path / "step=2.ckpt", 2)
    age(good, 30)
    (tmp_path / "last.ckpt").symlink_to(tmp_path / "scratch" / "step=4.ckpt")
    skipped = r"resuming from .*step=2.ckpt.*last.ckpt: dangling symlink to .*scratch/step=4.ckpt"
    with pytest.warns(UserWarning, match=skipped):
        assert resolve_ckpt_path("last", tmp_path) == str(good)
    good.unlink()
    with pytest.raises(NoValidCheckpointError, match="last.ckpt: dangling symlink"):
        resolve_ckpt_path("last", tmp_path)


def test_loading_a_sharded_folder_checks_its_structure(tmp_path):
    """Export, ``init_from_ckpt`` and eval read a folder through ``load_checkpoint``: a
    truncated shard failed inside torch's zip reader, naming neither the folder nor the shard."""
    from mist_pl.export import load_checkpoint

    folder = sharded(tmp_path / "s.ckpt", 2)
    assert load_checkpoint(folder, model_only=True)["global_step"] == 2
    shard = next(folder.glob("*.distcp"))
    truncate(shard, 0.3)
    with pytest.raises(CheckpointError, match=f"{folder}: shard {shard.name} is truncated"):
        load_checkpoint(folder, model_only=True)
