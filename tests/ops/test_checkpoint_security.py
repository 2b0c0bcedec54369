"""A checkpoint never runs code: every load is ``weights_only`` (or, for a sharded folder's
index and values, an equally strict reader), on every path: the completeness check,
``--ckpt_path FILE``, ``--ckpt_path last``, Lightning's own restore and ``init_from_ckpt``.
An unsafe file fails naming itself and the explicit opt-in; only a file the user names in
``MIST_PL_TRUSTED_CHECKPOINTS`` is unpickled in full.

The malicious checkpoints here carry a pickle whose reduce calls ``os.makedirs(marker)``:
harmless, and the marker folder shows whether the code ran."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from ops_helpers import cpt_config, run_cli

from mist_pl.checkpoints.resolve import resolve_ckpt_path
from mist_pl.checkpoints.validate import TRUST_ENV, UnsafeCheckpointError, check_checkpoint


class Payload:
    """Unpickling this calls ``os.makedirs(marker)``: code run by merely loading the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker, 0o777, True)


def evil_file(path: Path, marker: Path, step: int = 9) -> Path:
    """A Lightning-like checkpoint (it passes every structural check) with a payload."""
    torch.save({"global_step": step, "state_dict": {"w": torch.zeros(4)}, "hyper_parameters": {},
                "pytorch-lightning_version": "2.6.6", "payload": Payload(marker)}, path)
    return path


def good_file(path: Path, step: int = 2) -> Path:
    torch.save({"global_step": step, "state_dict": {"w": torch.zeros(4)}}, path)
    return path


def sharded(folder: Path, step: int = 2, extra: dict | None = None) -> Path:
    """A sharded checkpoint folder as ModelParallelStrategy writes it (one process)."""
    import torch.distributed.checkpoint as dcp

    dcp.save({"state_dict": {"w": torch.randn(8, 8)}, "lr": 0.1, **(extra or {})}, checkpoint_id=str(folder))
    torch.save({"global_step": step}, folder / "meta.pt")
    return folder


def assert_refused(error: pytest.ExceptionInfo, path: Path, marker: Path) -> None:
    message = str(error.value)
    assert str(path) in message and "could run code" in message
    assert f"{TRUST_ENV}={path.resolve()}" in message  # how to opt in, ready to copy
    assert not marker.exists(), "the checkpoint's code ran"


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code-ran"


def test_an_unsafe_file_is_refused_naming_it_and_the_opt_in(tmp_path, marker):
    path = evil_file(tmp_path / "evil.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        check_checkpoint(path)
    assert_refused(error, path, marker)
    assert "os.makedirs" in str(error.value)  # what it would have called


def test_last_fails_on_an_unsafe_checkpoint_instead_of_skipping_it(tmp_path, marker):
    """A dropped-in ``last.ckpt`` is not quietly passed over for an older one: someone put
    it there, and the user must decide."""
    older = good_file(tmp_path / "step=2.ckpt")
    os.utime(older, (1, 1))
    evil = evil_file(tmp_path / "last.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError, match="--ckpt_path last") as error:
        resolve_ckpt_path("last", tmp_path)
    assert_refused(error, evil, marker)


@pytest.mark.parametrize("where", ["meta.pt", ".metadata", "value"])
def test_an_unsafe_sharded_folder_is_refused(tmp_path, marker, where):
    """torch.distributed.checkpoint unpickles ``.metadata`` and the non-tensor values of the
    shards with no limits; ``meta.pt`` is the Lightning state next to them."""
    folder = sharded(tmp_path / "s.ckpt", extra={"payload": Payload(marker)} if where == "value" else None)
    if where == "meta.pt":
        evil_file(folder / "meta.pt", marker)
    elif where == ".metadata":
        (folder / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(UnsafeCheckpointError) as error:
        check_checkpoint(folder)
    assert_refused(error, folder, marker)


def test_init_from_ckpt_refuses_unsafe_files_and_folders(tmp_path, marker):
    from mist_pl.export import load_checkpoint

    path = evil_file(tmp_path / "evil.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint(path, model_only=True)
    assert_refused(error, path, marker)
    folder = sharded(tmp_path / "s.ckpt")
    (folder / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(UnsafeCheckpointError) as error:
        load_checkpoint(folder, model_only=True)
    assert_refused(error, folder, marker)


def test_a_file_the_user_trusts_by_name_is_loaded_in_full(tmp_path, marker, monkeypatch):
    path = evil_file(tmp_path / "evil.ckpt", marker)
    monkeypatch.setenv(TRUST_ENV, str(tmp_path / "other.ckpt"))  # trust is per file
    with pytest.raises(UnsafeCheckpointError):
        check_checkpoint(path)
    assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, os.pathsep.join([str(tmp_path / "other.ckpt"), str(path)]))
    check_checkpoint(path)
    assert marker.exists()  # the user's choice: the file was unpickled in full


def test_the_project_s_own_sharded_values_pass(tmp_path):
    check_checkpoint(sharded(tmp_path / "s.ckpt", extra={"loops": {"step": 3, "betas": (0.9, 0.95), "name": "x"}}))


# -- through the CLI ------------------------------------------------------------------

@pytest.fixture
def run(tmp_path, monkeypatch):
    """(config, the run's checkpoint folder) of a CPT run that has not started yet."""
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    folder = tmp_path / "runs" / "cpt_tiny" / "run" / "checkpoints"
    folder.mkdir(parents=True)
    return cpt_config(tmp_path), folder


@pytest.mark.parametrize("subcommand", ["fit", "validate"])
def test_cli_refuses_an_unsafe_ckpt_path(run, tmp_path, marker, subcommand):
    config, _ = run
    evil = evil_file(tmp_path / "evil.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        run_cli([subcommand, f"--config={config}", "--trainer.max_steps=1", f"--ckpt_path={evil}"])
    assert_refused(error, evil, marker)


def test_cli_refuses_an_unsafe_checkpoint_dropped_into_the_run_folder(run, marker):
    config, folder = run
    os.utime(good_file(folder / "epoch=0-step=2.ckpt"), (1, 1))
    evil = evil_file(folder / "last.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError, match="--ckpt_path last") as error:
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=1", "--ckpt_path=last"])
    assert_refused(error, evil, marker)


def test_lightning_s_restore_loads_with_weights_only(run, tmp_path, marker, monkeypatch):
    """Without the checks before ``fit``, Lightning's own restore still runs no code, even
    where torch's default is ``weights_only=False`` (older torch, or this variable)."""
    import mist_pl.cli

    config, _ = run
    evil = evil_file(tmp_path / "evil.ckpt", marker)
    monkeypatch.setattr(mist_pl.cli, "prepare_resume", lambda trainer, module, ckpt_path: ckpt_path)
    monkeypatch.setattr(mist_pl.cli, "check_safe", lambda ckpt_path: None)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UnsafeCheckpointError) as error:
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=1", f"--ckpt_path={evil}"])
    assert_refused(error, evil, marker)


def test_cli_loads_a_trusted_file_in_full(run, tmp_path, marker, monkeypatch):
    """Trusted by name, the file passes the checks and Lightning's restore unpickles it (it
    then fails only because it does not fit the model)."""
    from mist_pl.checkpoints.resume import CheckpointMismatchError

    config, _ = run
    evil = evil_file(tmp_path / "evil.ckpt", marker)
    monkeypatch.setenv(TRUST_ENV, str(evil))
    with pytest.raises(CheckpointMismatchError):
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=1", f"--ckpt_path={evil}"])
    assert marker.exists()


def test_cli_refuses_weights_only_false(run, tmp_path):
    """Lightning's ``--weights_only false`` would trust every file, ``last`` included."""
    config, _ = run
    with pytest.raises(ValueError, match=f"--weights_only false.*{TRUST_ENV}"):
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=1", "--weights_only=false",
                 f"--ckpt_path={good_file(tmp_path / 'good.ckpt')}"])
