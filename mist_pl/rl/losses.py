"""The GRPO objective, token by token.

For completion token t of rollout i with advantage A_i::

    ratio  = exp(logp - old_logp)
    pg     = -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)
    kl     = exp(ref_logp - logp) - (ref_logp - logp) - 1        (k3: unbiased, >= 0)
    loss_t = pg + beta * kl

and the step's loss is ``sum_t weight_t * loss_t`` with weights from
:func:`aggregation_weights`. Weights are computed from counts over the *whole optimizer
step* (all its micro-batches, all ranks), so accumulating micro-batch losses gives
exactly the loss of the step taken at once.

Masked positions (padding, dropped rollouts) are removed with ``torch.where``, never by
multiplying by 0: a NaN there (e.g. from a fully padded attention row) times 0 is still
NaN, and would poison the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mist_pl.rl.mismatch import MismatchStats


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(target) per position under ``softmax(logits / temperature)``; [B, T, V] -> [B, T].

    ``logit[target] - logsumexp(logits)`` instead of a full ``log_softmax``: autograd then
    keeps no extra [B, T, V] tensor of log-probabilities.
    """
    logits = logits.float()
    if temperature not in (0.0, 1.0):
        logits = logits / temperature
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


@torch.no_grad()
def token_entropy(logits: torch.Tensor, temperature: float = 1.0, chunk: int = 1) -> torch.Tensor:
    """Entropy of the (tempered) next-token distribution per position, row chunk by row
    chunk so only ``chunk`` rows of fp32 probabilities exist at once."""
    out = []
    for part in logits.split(chunk, dim=0):
        part = part.float()
        if temperature not in (0.0, 1.0):
            part = part / temperature
        logz = torch.logsumexp(part, dim=-1, keepdim=True)
        probs = (part - logz).exp()
        out.append(logz.squeeze(-1) - (probs * part).sum(-1))
    return torch.cat(out, dim=0)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference) per sampled token."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def aggregation_weights(
    mask: torch.Tensor, mode: str, step_sequences: float, step_tokens: float, max_tokens: int
) -> torch.Tensor:
    """Per-token weights of a micro-batch; ``mask`` [B, T] marks tokens in the loss.

    ``step_sequences`` / ``step_tokens``: completions / tokens in the loss over the whole
    optimizer step (all micro-batches and ranks, divided by the number of ranks when
    gradients are averaged over ranks).

    * ``token``: 1 / step_tokens (every token counts the same; DAPO).
    * ``sequence``: 1 / (len_i * step_sequences) (every completion counts the same; GRPO).
    * ``constant``: 1 / (step_sequences * max_tokens) (Dr. GRPO: no length bias).
    """
    mask = mask.bool()
    if mode == "token":
        weights = torch.full(mask.shape, 1.0 / max(step_tokens, 1e-8), device=mask.device)
    elif mode == "sequence":
        lengths = mask.sum(-1, keepdim=True).clamp(min=1).float()
        weights = (1.0 / (lengths * max(step_sequences, 1e-8))).expand(mask.shape)
    elif mode == "constant":
        weights = torch.full(mask.shape, 1.0 / max(step_sequences * max_tokens, 1e-8), device=mask.device)
    else:
        raise ValueError(f"loss aggregation {mode!r} is not one of ('token', 'sequence', 'constant')")
    return torch.where(mask, weights, 0.0)


@dataclass
class LossStats:
    """Sums over the micro-batch's loss tokens; divide by ``tokens`` for means."""

    tokens: float
    kl: float | None
    clipped_low: float
    clipped_high: float
    ratio: float
    max_gap_old: float = 0.0  # largest |logp - old_logp| over the loss tokens
    max_gap_ref: float | None = None  # largest |logp - ref_logp| (None: no reference)
    mismatch: MismatchStats | None = None  # sampler-trainer gap (None: the trainer sampled)


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    pg_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, LossStats]:
    """Clipped surrogate + beta * k3 KL, summed with ``weights`` (0 where masked).

    ``logp`` carries the gradient; ``old_logp`` / ``ref_logp`` are constants. With
    ``old_logp = logp.detach()`` (on-policy) the ratio is 1 and the gradient is the
    plain policy gradient ``-A * grad logp``. ``pg_weights`` (constants, [B, T]) scale
    the surrogate term only, not the KL: the truncated importance weights of a rollout
    engine's sampling mismatch (:mod:`mist_pl.rl.mismatch`).
    """
    mask = weights != 0
    adv = advantages.unsqueeze(-1) if advantages.ndim == 1 else advantages
    log_ratio = torch.where(mask, logp - old_logp, 0.0)
    ratio = torch.exp(log_ratio)
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    if pg_weights is not None:
        per_token = per_token * pg_weights
    kl = None
    if beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs the reference log-probs")
        kl = kl_k3(torch.where(mask, logp, 0.0), torch.where(mask, ref_logp, 0.0))
        per_token = per_token + beta * kl
    loss = torch.where(mask, per_token * weights, 0.0).sum()
    with torch.no_grad():
        def largest_gap(other: torch.Tensor) -> float:
            return float(torch.where(mask, (logp.detach() - other).abs(), 0.0).max()) if mask.any() else 0.0

        stats = LossStats(
            tokens=float(mask.sum()),
            kl=float(torch.where(mask, kl, 0.0).sum()) if kl is not None else None,
            clipped_low=float((mask & (adv < 0) & (ratio < 1 - epsilon_low)).sum()),
            clipped_high=float((mask & (adv > 0) & (ratio > 1 + epsilon_high)).sum()),
            ratio=float(torch.where(mask, ratio, 0.0).sum()),
            max_gap_old=largest_gap(old_logp),
            max_gap_ref=largest_gap(ref_logp) if ref_logp is not None else None,
        )
    return loss, stats
