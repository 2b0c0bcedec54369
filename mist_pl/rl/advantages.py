"""Group-relative advantages: how much better each completion did than its siblings.

Rewards arrive as a float tensor with NaN where a completion got no reward (every
reward function skipped it, failed or timed out). Such a completion gets advantage 0
(no push either way: we could not judge it) and is left out of its group's mean and
std, so one failed call does not shift its siblings' advantages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Rewards closer than this count as equal: a group of them carries no signal.
ZERO_VARIANCE_TOL = 1e-6


@dataclass
class Advantages:
    values: torch.Tensor  # [P*G]
    zero_variance: torch.Tensor  # [P] bool: the group's (valid) rewards all agree
    scored: torch.Tensor  # [P*G] bool: the completion has a reward


def group_advantages(rewards: torch.Tensor, group_size: int, scaling: str = "group", eps: float = 1e-4) -> Advantages:
    """``(reward - group mean) / scale`` per completion; rows ``p*G .. p*G+G-1`` are a group.

    ``scaling``: ``group`` divides by the group's std (GRPO), ``batch`` by the std of all
    rewards of the round, ``none`` not at all (Dr. GRPO: std scaling over-weights groups
    that are almost all right or all wrong). Stds are population stds (divide by n).
    Groups with fewer than two scored completions or equal rewards get advantage 0.
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"{tuple(rewards.shape)} rewards do not split into groups of {group_size}")
    rewards = rewards.double()  # exact means for hand-checkable tests; tiny tensors
    grouped = rewards.view(-1, group_size)
    scored = ~torch.isnan(grouped)
    count = scored.sum(-1, keepdim=True)
    filled = torch.where(scored, grouped, 0.0)
    mean = filled.sum(-1, keepdim=True) / count.clamp(min=1)
    centered = torch.where(scored, grouped - mean, 0.0)
    spread = torch.where(scored, grouped, -torch.inf).amax(-1) - torch.where(scored, grouped, torch.inf).amin(-1)
    zero_variance = (count.squeeze(-1) < 2) | ~(spread > ZERO_VARIANCE_TOL)
    if scaling == "group":
        std = (centered.pow(2).sum(-1, keepdim=True) / count.clamp(min=1)).sqrt()
        centered = centered / (std + eps)
    elif scaling == "batch":
        valid = rewards[~torch.isnan(rewards)]
        std = valid.std(unbiased=False) if valid.numel() > 1 else valid.new_tensor(0.0)
        centered = centered / (std + eps)
    elif scaling != "none":
        raise ValueError(f"advantage scaling {scaling!r} is not one of ('group', 'batch', 'none')")
    centered = centered.masked_fill(zero_variance[:, None], 0.0)
    return Advantages(centered.reshape(-1).float(), zero_variance, scored.reshape(-1))
