"""Every path that loads a checkpoint file verifies its bytes (the CRC of every record)
before using them: export, ``init_from_ckpt`` and eval. Only resume did: a file with
damaged bytes but the right size exported with exit status 0 and other embeddings, and
started a stage or an evaluation from garbage weights. Damage is told apart from unsafe
content: a damaged ``data.pkl`` was refused as "holds more than tensors; trust it"."""

from __future__ import annotations

import pytest
from ckpt_helpers import checkpoint_of, flip_byte, largest_tensor

from mist_pl.checkpoints.validate import CheckpointError, UnsafeCheckpointError
from mist_pl.eval.loading import load_model
from mist_pl.export import load_checkpoint
from mist_pl.export import main as export_main
from mist_pl.modules.causal_lm import CausalLMModule


@pytest.fixture
def rotten(tiny_model, tmp_path):
    """(checkpoint with one flipped byte in its embeddings, the damaged record's name)."""
    path = checkpoint_of(tiny_model, tmp_path / "last.ckpt")
    record = largest_tensor(path)
    flip_byte(path, record, at=1000)
    return path, record


def test_export_refuses_damaged_bytes(rotten, tmp_path):
    path, record = rotten
    out = tmp_path / "hf"
    with pytest.raises(SystemExit) as stop:
        export_main(["--ckpt", str(path), "--out", str(out)])
    assert stop.value.code == (f"error: {path}: corrupt data in {record} (CRC mismatch): the file is damaged; "
                               "nothing was loaded from it")
    assert not out.exists()


def test_init_from_ckpt_refuses_damaged_bytes(rotten):
    path, record = rotten
    module = CausalLMModule(init_from_ckpt=str(path))
    with pytest.raises(CheckpointError, match=f"{path}: corrupt data in {record} \\(CRC mismatch\\)"):
        module.configure_model()
    assert module.model is None


def test_eval_refuses_damaged_bytes(rotten):
    path, record = rotten
    with pytest.raises(CheckpointError, match=f"{path}: corrupt data in {record} \\(CRC mismatch\\)"):
        load_model(ckpt=path)


def test_damaged_pickle_is_reported_as_damage_not_as_unsafe(tiny_model, tmp_path):
    path = checkpoint_of(tiny_model, tmp_path / "last.ckpt")
    flip_byte(path, "/data.pkl", at=5)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert not isinstance(error.value, UnsafeCheckpointError)
    assert "data.pkl (CRC mismatch): the file is damaged" in str(error.value)
    assert "could run code" not in str(error.value)
