"""Small pieces shared by the CPT/SFT module tests (conftest.py holds the fixtures)."""

from __future__ import annotations

import lightning as L
import torch
import yaml

# Two built-in corpora, capped so MixtureDataModule.setup takes well under a second.
SMALL_MIX = {
    "name": "module_test_mix",
    "seed": 7,
    "tokenizer": "mist-chem",
    "sources": [
        {"name": "molecules", "corpus": "rdkit_nci", "weight": 0.7, "max_records": 300},
        {"name": "text", "corpus": "general_text", "weight": 0.3},
    ],
}


def write_mix(path, mix: dict | None = None):
    path.write_text(yaml.safe_dump(mix or SMALL_MIX))
    return path


def quiet_trainer(root, **overrides) -> L.Trainer:
    """A CPU trainer without progress bars or summaries; tests pass what they need."""
    kwargs = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(root),
        limit_val_batches=0, num_sanity_val_steps=0,
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


class RecordLosses(L.Callback):
    """Keeps the training loss of every step (Lightning only keeps the last one)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.losses.append(float(loss))


def random_batch(vocab: int, batch: int = 2, seq_len: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """A packed-style batch of random tokens: two documents per row, position ids restart."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab, (batch, seq_len), generator=gen)
    half = seq_len // 2
    positions = torch.cat([torch.arange(half), torch.arange(seq_len - half)]).expand(batch, -1).clone()
    labels = ids.clone()
    labels[:, 0] = labels[:, half] = -100  # no label across the document boundary
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def model_weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.state_dict().items()}
