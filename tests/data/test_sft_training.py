"""A short SFT run: SFTModule on the tiny model, fed by the mixture data module with a chat
source; the completion loss falls, packed and one example per row."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from sft_helpers import write_jsonl

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.optim import OptimConfig
from mist_pl.modules.sft import SFTModule

STEPS = 20


class RecordLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # 2 shared cores: a second spinning OpenMP thread makes the tiny model slower, not faster.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "one-per-row"])
def test_sft_loss_falls(tmp_path, pack):
    # Alkane formulas: a learnable answer in the reasoning layout every task uses.
    pairs = [
        {"prompt": f"Molecular formula of the linear alkane with {n} carbons?",
         "completion": f"<think>{n} carbons, {2 * n + 2} hydrogens.</think><answer>C{n}H{2 * n + 2}</answer>"}
        for n in range(1, 41)
    ]
    data = write_jsonl(tmp_path / "alkanes.jsonl", pairs)
    mix = {"seed": 3, "tokenizer": "mist-chem",
           "sources": [{"name": "alkanes", "format": "jsonl", "path": str(data), "weight": 1, "transform": {"kind": "chat"}}]}
    L.seed_everything(0, verbose=False)
    # Examples are 56-61 tokens (digits are single tokens): two per packed row of 128, one
    # per padded row of 64.
    dm = MixtureDataModule(mix, seq_len=128 if pack else 64, batch_size=4, pack=pack, val_fraction=0.0)
    module = SFTModule(optim=OptimConfig(lr=3e-3, warmup_steps=2, schedule="constant"))
    record = RecordLosses()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=STEPS, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
        callbacks=[record], default_root_dir=str(tmp_path),
    )
    trainer.fit(module, datamodule=dm)

    assert trainer.global_step == STEPS and len(record.losses) == STEPS
    assert dm.overlong_counts["alkanes"].truncated == 0
    assert dm.packing_efficiency()["alkanes"] > 0.8  # packed: two examples per row
    first, last = sum(record.losses[:4]) / 4, sum(record.losses[-4:]) / 4
    assert last < first - 2.0, (first, last)
    # The logged supervision is completion tokens only: a fraction of the row.
    assert 0 < trainer.callback_metrics["train/completion_tokens"] < 4 * dm.seq_len / 2
