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
        init_from_ckpt: str | None = None,
    ) -> None:
        super().__init__(lm=lm, optim=optim, max_bad_steps=max_bad_steps, init_from_ckpt=init_from_ckpt)
        self.save_hyperparameters(self.hparams_dict())

    def forward(self, input_ids, labels=None, position_ids=None, attention_mask=None):
        # use_cache=False matters beyond memory: with a KV cache transformers ignores the
        # packed position_ids and lets packed documents attend to each other.
        return self.model(
            input_ids=input_ids,
            labels=labels,
            position_ids=position_ids,
            attention_mask=attention_mask,
            use_cache=False,
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
        raw = self._loss(batch)
        loss = self.guard_loss(raw, batch, batch_idx)
        # Logged at every step, the non-finite value at a skipped one: left out, Lightning
        # would log the previous step's loss again in its place.
        self.log("train/loss", raw.detach() if loss is None else loss, prog_bar=True)
        return loss

    # -- validation: loss and perplexity overall and per mixture source ----------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums: dict[int, torch.Tensor] = {}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(
            batch["input_ids"],
            position_ids=batch.get("position_ids"),
            attention_mask=batch.get("attention_mask"),
        ).logits
        labels = batch["labels"][:, 1:]
        token_loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="none"
        ).view_as(labels)
        mask = labels != -100
        row_loss, row_tokens = (token_loss * mask).sum(1), mask.sum(1)
        sources = batch.get("source_ids")
        if sources is None:
            sources = torch.zeros_like(row_tokens)
        for source in sources.unique().tolist():
            rows = sources == source
            total = torch.stack([row_loss[rows].sum(), row_tokens[rows].sum().to(row_loss.dtype)])
            self._val_sums[source] = self._val_sums.get(source, 0) + total.detach()

    def on_validation_epoch_end(self) -> None:
        facts = self.data_facts()
        names = facts.source_names if facts is not None else ()
        all_sum = torch.zeros(2, device=self.device)
        n_sources = len(names) if names else 1
        for source in range(n_sources):
            # Every rank reduces every source (zeros where it saw none): collectives must match.
            sums = self._val_sums.get(source, torch.zeros(2, device=self.device))
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
            all_sum += sums
            if names and sums[1] > 0:
                self.log(f"val_ppl/{names[source]}", torch.exp((sums[0] / sums[1]).clamp(max=20)))
        if all_sum[1] > 0:
            loss = all_sum[0] / all_sum[1]
            self.log("val/loss", loss, prog_bar=True)
            self.log("val/ppl", torch.exp(loss.clamp(max=20)))
