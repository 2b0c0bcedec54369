"""The SLURM requeue signal: what happens when the job cannot be requeued, and a
checkpoint save that lands on a periodic-save step.

* Without ``scontrol`` on PATH (common inside containers) the checkpoint is saved, the
  log says that the job was not requeued and how to resume it, and the CLI exits with
  :data:`~mist_pl.callbacks.preemption.NOT_REQUEUED_EXIT` (128 + SIGTERM, what SLURM's own
  stop of a job gives) instead of a traceback and status 1.
* The stop save at a step where ``ModelCheckpoint`` saves periodically keeps that
  periodic checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import signal

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from ops_helpers import cpt_config
from torch.utils.data import DataLoader

from mist_pl.callbacks.preemption import NOT_REQUEUED_EXIT, PreemptionCheckpoint

JOB_ID = "4242"


class Linear(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        return DataLoader(torch.randn(64, 4, generator=torch.Generator().manual_seed(0)), batch_size=2)


class SignalAt(L.Callback):
    """Sends ``signum`` to this process at the start of the batch that begins at ``step``."""

    def __init__(self, step: int, signum: str = "SIGUSR1") -> None:
        self.step, self.signum, self.sent = step, getattr(signal, signum), False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.fixture
def slurm_without_scontrol(tmp_path, monkeypatch):
    """A SLURM job whose PATH has no ``scontrol``."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("SLURM_JOB_ID", JOB_ID)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("PATH", str(empty))


def fit_linear(tmp_path, signal_step: int, every_n_steps: int) -> tuple[L.Trainer, PreemptionCheckpoint]:
    preemption = PreemptionCheckpoint()
    periodic = ModelCheckpoint(dirpath=tmp_path / "ckpts", every_n_train_steps=every_n_steps, save_top_k=-1,
                               save_last=True)
    trainer = L.Trainer(accelerator="cpu", max_steps=20, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[periodic, preemption, SignalAt(signal_step)])
    trainer.fit(Linear())
    return trainer, preemption


def test_no_scontrol_saves_says_so_and_sets_the_preempted_exit_status(tmp_path, slurm_without_scontrol, caplog):
    with caplog.at_level(logging.WARNING, logger="mist_pl.callbacks.preemption"):
        trainer, preemption = fit_linear(tmp_path, signal_step=3, every_n_steps=100)
    assert trainer.global_step == 4  # the step running when the signal came, then stop
    assert torch.load(tmp_path / "ckpts" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert preemption.exit_status == NOT_REQUEUED_EXIT == 128 + signal.SIGTERM
    assert f"job {JOB_ID} was not requeued" in caplog.text and "scontrol" in caplog.text
    assert preemption.stop_message and "was not requeued" in preemption.stop_message


def test_stop_on_a_periodic_step_keeps_the_periodic_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)  # no requeue attempt: only the save matters
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    trainer, preemption = fit_linear(tmp_path, signal_step=3, every_n_steps=2)
    assert trainer.global_step == 4
    saved = sorted(path.name for path in (tmp_path / "ckpts").iterdir())
    assert saved == ["epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt", "last.ckpt"], saved
    assert torch.load(tmp_path / "ckpts" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert preemption.exit_status is None  # a stop without a requeue to do is not a failure


@pytest.mark.slow
def test_cli_exits_with_the_preempted_status_when_requeue_is_impossible(tmp_path, slurm_without_scontrol,
                                                                         capsys):
    from mist_pl.cli import main

    signal_at = json.dumps({"class_path": "test_preemption_requeue.SignalAt", "init_args": {"step": 1}})
    torch.set_num_threads(1)
    with pytest.raises(SystemExit) as stop:
        main(["fit", f"--config={cpt_config(tmp_path)}", "--trainer.max_steps=6", f"--trainer.callbacks+={signal_at}"])
    assert stop.value.code == NOT_REQUEUED_EXIT
    assert "was not requeued" in capsys.readouterr().err
    ckpt = tmp_path / "runs" / "cpt_tiny" / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True, mmap=True)["global_step"] == 2
