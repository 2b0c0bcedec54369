"""Re-seed every random generator at each training step from (seed, global step, rank).

GRPO samples completions and shuffles rollout groups with the global torch generator,
and dropout (when a model has any) draws from it too. Lightning does not store generator
states in checkpoints, and whatever runs between steps (creating a dataloader iterator,
validation) draws from them, so a resumed run would sample differently from an
uninterrupted one. Seeding each step from its position instead makes step ``k`` draw
the same numbers whether the run got there directly or through a checkpoint.
"""

from __future__ import annotations

import os
import random

import lightning as L
import numpy as np
import torch


def step_seed(base: int, global_step: int, rank: int) -> int:
    """A 63-bit seed that differs per step and per rank (ranks must not draw alike)."""
    state = np.random.SeedSequence([base & 0xFFFFFFFF, global_step, rank]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class StepSeed(L.Callback):
    """Seed torch, numpy and random at the start of every training batch.

    Args:
        seed: the base seed; by default the run's ``seed_everything`` value.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def base_seed(self) -> int:
        """``seed``, else the one ``seed_everything`` stored in ``PL_GLOBAL_SEED``, else 0."""
        if self.seed is not None:
            return self.seed
        value = os.environ.get("PL_GLOBAL_SEED", "0")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"PL_GLOBAL_SEED={value!r} is not a whole number; unset it or set step_seed.seed") from None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        seed = step_seed(self.base_seed(), trainer.global_step, trainer.global_rank)
        torch.manual_seed(seed)  # also seeds every CUDA device
        np.random.seed(seed % 2**32)
        random.seed(seed)
