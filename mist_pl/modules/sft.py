"""Supervised fine-tuning (SFT) on reasoning-formatted task data.

The loss is the CPT loss; what makes it SFT is the data: chat-templated
(prompt, completion) pairs whose prompt tokens carry label -100
(:func:`mist_pl.data.tokenization.encode_chat`), so only ``<think>...</think><answer>...</answer>``
completions are learned. They come from the mixture data module with ``chat`` sources
(``conf/data/sft_tiny.yaml``, ``conf/tiny/sft.yaml``): packed rows (position ids restart
per example: block-diagonal attention) or, with ``pack: false``, one example per row;
both go straight to the model, with ``attention_mask`` too where a batch has one.
"""

from __future__ import annotations

from mist_pl.modules.causal_lm import CausalLMModule


class SFTModule(CausalLMModule):
    """Completion-only fine-tuning (see :class:`~mist_pl.modules.base.LMModule` for the args)."""

    def training_step(self, batch: dict, batch_idx: int):
        loss = super().training_step(batch, batch_idx)
        # How much supervision each step really carries: completion tokens, not prompt.
        self.log("train/completion_tokens", (batch["labels"] != -100).sum().float(), reduce_fx="sum")
        return loss
