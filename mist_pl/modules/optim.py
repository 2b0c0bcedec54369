"""Optimizer and learning-rate schedule shared by the CPT, SFT and GRPO modules."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

OPTIMIZERS = ("adamw", "adamw8bit")
SCHEDULES = ("cosine", "wsd", "constant")


@dataclass
class OptimConfig:
    """AdamW (fused on CUDA) or bitsandbytes 8-bit AdamW, with warmup and a decay schedule.

    Args:
        name: ``adamw`` or ``adamw8bit`` (optimizer state in 8 bits: ~75% less memory).
        lr: peak learning rate, reached after ``warmup_steps``.
        schedule: ``cosine`` (to ``min_lr_ratio * lr``), ``wsd`` (warmup-stable-decay: constant,
            then linear decay over the last ``decay_fraction`` of the steps) or ``constant``.
    """

    name: str = "adamw"
    lr: float = 3e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optim.name={self.name!r} is not one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule={self.schedule!r} is not one of {SCHEDULES}")
        if not self.lr > 0:
            raise ValueError(f"optim.lr={self.lr!r} must be positive")
        if not 0 <= self.min_lr_ratio <= 1 or not 0 < self.decay_fraction <= 1:
            raise ValueError("optim.min_lr_ratio must be in [0, 1] and optim.decay_fraction in (0, 1]")
        # A negative warmup would read as "no warmup" in lr_multiplier, silently.
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps={self.warmup_steps!r} must be >= 0")
        if not self.weight_decay >= 0:
            raise ValueError(f"optim.weight_decay={self.weight_decay!r} must be >= 0")
        if not self.eps > 0:
            raise ValueError(f"optim.eps={self.eps!r} must be positive")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"optim.betas={self.betas!r} must be two numbers in [0, 1)")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: biases and norm scales (1-D tensors) are not regularized."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if cfg.name == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    # The fused kernel runs on CUDA and (torch >= 2.4) CPU: one pass over all tensors instead
    # of a loop of small ops; ~3x faster optimizer steps on CPU (transformers' default too).
    fusable = all(p.device.type in ("cuda", "cpu") for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=fusable or None)


def lr_multiplier(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Factor applied to ``cfg.lr`` at optimizer step ``step`` (0-based)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant" or total_steps <= cfg.warmup_steps:
        return 1.0
    floor = cfg.min_lr_ratio
    if cfg.schedule == "cosine":
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    decay_start = total_steps - int(cfg.decay_fraction * total_steps)
    if step < max(decay_start, cfg.warmup_steps):
        return 1.0
    progress = min(1.0, (step - decay_start) / max(1, total_steps - decay_start))
    return 1.0 - (1 - floor) * progress


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, cfg: OptimConfig):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, total_steps, cfg)
    )
