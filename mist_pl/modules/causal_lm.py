"""Continued pre-training (CPT): next-token loss on packed chemistry text.

The model is created in ``configure_model`` (not ``__init__``) so that sharded strategies
can build it under their own context; the tokenizer is created in ``__init__`` because
the DataModule needs it before training starts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import lightning as L
import torch

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.modules.optim import OptimConfig, build_optimizer, build_scheduler

log = logging.getLogger(__name__)


def _as(cls, value):
    """Accept a config object or the plain dict it was saved as in a checkpoint."""
    if value is None:
        return cls()
    return value if isinstance(value, cls) else cls(**value)


class CausalLMModule(L.LightningModule):
    """Causal language modelling on batches of ``input_ids``, ``labels``, ``position_ids``.

    Args:
        lm: which model and tokenizer to start from (see :class:`ModelConfig`).
        optim: optimizer and learning-rate schedule (see :class:`OptimConfig`).
    """

    def __init__(self, lm: ModelConfig = ModelConfig(), optim: OptimConfig = OptimConfig()) -> None:
        super().__init__()
        self.lm_config = _as(ModelConfig, lm)
        self.optim_config = _as(OptimConfig, optim)
        # Plain dicts keep checkpoints loadable with torch.load(weights_only=True).
        self.save_hyperparameters({"lm": asdict(self.lm_config), "optim": asdict(self.optim_config)})
        self.tokenizer = build_tokenizer(self.lm_config)
        self.model: torch.nn.Module | None = None

    def configure_model(self) -> None:
        if self.model is None:
            self.model = build_model(self.lm_config, self.tokenizer)

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

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        self.log("val/ppl", torch.exp(loss.detach().clamp(max=20)), sync_dist=True)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.model, self.optim_config)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, total, self.optim_config)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
