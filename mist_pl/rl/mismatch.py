"""Sampler-trainer mismatch: how far the engine that sampled a completion was from the
trainer's policy, and the truncated importance-sampling weights that correct for it.

A rollout engine (vLLM) computes with its own kernels, so the probability ``q`` it
sampled a token with is not bit-equal to the probability ``p_old`` the trainer's forward
gives the same weights (bf16 kernels on a GPU: up to ~1e-1 per token; fp32 on a CPU:
~1e-4). GRPO's ratio compares the trainer with itself (``p / p_old``, both from the
trainer), so the step-0 ratio is still exactly 1; what the mismatch biases is the
*sampling* distribution, which the policy gradient assumes is ``p_old``. As TRL does
(``vllm_importance_sampling_*``), each token's policy-gradient term can be reweighted by

    w = p_old / q = exp(old_logp - sampler_logp)

truncated from above at ``cap`` (Yao et al., "Your efficient RL framework secretly
brings you off-policy RL training", 2025: truncated importance sampling, TIS):

* ``token_truncate``: ``min(w_t, cap)`` per token (the default; verl's default too);
* ``token_mask``: ``w_t`` where ``w_t <= cap``, else 0 (the token leaves the gradient);
* ``sequence_truncate``: ``min(prod_t w_t, cap)`` for every token of the completion;
* ``sequence_mask``: ``prod_t w_t`` where it is ``<= cap``, else 0 (TRL's default, cap 3);
* ``none``: measure only.

Only the policy-gradient term is reweighted; the KL penalty to the reference is not (as
in TRL). The gap is logged whatever the mode: mean and max ``|old_logp - sampler_logp|``
and ``k3``, an unbiased estimate of KL(q || p_old) from tokens drawn from q.

The engine's log-probs are those of the distribution it sampled from: temperature
applied and, with ``top_k`` / ``top_p``, renormalized over the kept tokens
(vLLM's ``processed_logprobs``). The trainer's are tempered but never truncated, so
with top-k / top-p the measured gap includes the truncation, not only numerics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IS_MODES = ("none", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask")


@dataclass
class MismatchStats:
    """Sums over the measured tokens; divide by ``tokens`` for means."""

    tokens: float = 0.0
    abs_diff: float = 0.0  # sum of |old_logp - sampler_logp|
    max_abs_diff: float = 0.0
    kl: float = 0.0  # sum of k3 terms
    weight: float = 0.0  # sum of the importance weights applied (1 per token with mode none)
    weight_max: float = 0.0
    changed: float = 0.0  # tokens whose weight was truncated or masked

    def add(self, other: MismatchStats) -> None:
        self.tokens += other.tokens
        self.abs_diff += other.abs_diff
        self.kl += other.kl
        self.weight += other.weight
        self.changed += other.changed
        self.max_abs_diff = max(self.max_abs_diff, other.max_abs_diff)
        self.weight_max = max(self.weight_max, other.weight_max)


@torch.no_grad()
def importance_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor, mode: str,
                       cap: float) -> tuple[torch.Tensor, MismatchStats]:
    """Per-token weights [B, T] of the policy-gradient term (1 where ``mask`` is 0 or the
    mode is ``none``) and the mismatch measured on the ``mask`` tokens."""
    if mode not in IS_MODES:
        raise ValueError(f"importance sampling mode {mode!r} is not one of {IS_MODES}")
    mask = mask.bool()
    log_w = torch.where(mask, old_logp.float() - sampler_logp.float(), 0.0)
    if mode.startswith("sequence"):
        log_w = log_w.sum(-1, keepdim=True).expand_as(log_w)
    raw = torch.exp(log_w)
    if mode.endswith("truncate"):
        weights = raw.clamp(max=cap)
    elif mode.endswith("mask"):
        weights = torch.where(raw <= cap, raw, 0.0)
    else:
        weights = torch.ones_like(raw)
    weights = torch.where(mask, weights, 1.0)
    diff = torch.where(mask, (old_logp.float() - sampler_logp.float()), 0.0)
    k3 = torch.exp(diff) - diff - 1  # KL(q || p_old) estimate on tokens drawn from q; 0 off the mask
    any_token = bool(mask.any())
    stats = MismatchStats(
        tokens=float(mask.sum()),
        abs_diff=float(diff.abs().sum()),
        max_abs_diff=float(diff.abs().max()) if any_token else 0.0,
        kl=float(torch.where(mask, k3, 0.0).sum()),
        weight=float(torch.where(mask, weights, 0.0).sum()),
        weight_max=float(torch.where(mask, weights, 0.0).max()) if any_token else 0.0,
        changed=float((mask & (weights != raw)).sum()) if mode != "none" else 0.0,
    )
    return weights, stats
