"""Continued pre-training (CPT): next-token loss on packed chemistry text.

Batches come from the mixture DataModule's packer: ``input_ids``, ``labels`` (-100 where
no loss is taken, e.g. across document boundaries), ``position_ids`` restarting at 0 for
each packed document (transformers turns them into block-diagonal attention) and
optionally ``source_ids`` (which mixture source each row/token came from).
"""

from __future__ import annotations

import torch

from mist_pl.models.factory import ModelConfig
from mist_pl.modules.base import LMModule
from mist_pl.modules.optim import OptimConfig


class CausalLMModule(LMModule):
    """Causal language modelling on packed batches (see :class:`LMModule` for the args)."""

    def __init__(
        self,
        lm: ModelConfig = ModelConfig(),
        optim: OptimConfig = OptimConfig(),
        max_bad_steps: int = 5,
    ) -> None:
        super().__init__(lm=lm, optim=optim, max_bad_steps=max_bad_steps)
        self.save_hyperparameters(self.hparams_dict())

    def forward(self, input_ids, labels=None, position_ids=None, attention_mask=None):
        return self.model(
            input_ids=input_ids, labels=labels, position_ids=position_ids, attention_mask=attention_mask
        )

    def _loss(self, batch: dict) -> torch.Tensor:
        out = self(
            batch["input_ids"],
            labels=batch["labels"],
            position_ids=batch.get("position_ids"),
            attention_mask=batch.get("attention_mask"),
        )
        return out.loss

    def training_step(self, batch: dict, batch_idx: int):
        loss = self.guard_loss(self._loss(batch), batch, batch_idx)
        if loss is not None:
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        self.log("val/ppl", torch.exp(loss.detach().clamp(max=20)), sync_dist=True)
