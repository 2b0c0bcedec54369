"""Tokens/s and days to a recipe's token budget at a stated model FLOPs utilization (MFU).

FLOPs per token as the TokenThroughput callback counts them (so a planned MFU and a
logged one mean the same): 6 per parameter used in a matmul (forward + backward; the
input embedding is a lookup, but a tied output head multiplies by that same matrix, so it
counts once) plus 12 x layers x hidden x context for attention scores. Activation checkpointing recomputes
the forward on top of that; as usual it is not counted as model FLOPs, so it shows up
as a lower achievable MFU rather than as more FLOPs.

GRPO also samples: decoding is bound by memory bandwidth, each new token reading the
whole bf16 model and the KV cache once. That time is a lower bound (full bandwidth,
every completion running to max_new_tokens); the training part uses the MFU.
"""

from __future__ import annotations

from dataclasses import dataclass

from mist_pl.planning.dims import ModelDims
from mist_pl.planning.workload import Workload

# 6 FLOPs per matmul parameter per token: 2 forward, 4 backward.
TRAIN_FLOPS_PER_PARAM = 6.0
# Attention scores and their use, forward + backward, per layer, hidden unit and context token.
ATTENTION_FLOPS = 12.0


@dataclass(frozen=True)
class SpeedPlan:
    flops_per_token: float
    tokens_per_step: int
    tokens_per_s: float  # training tokens per second, all GPUs
    step_s: float  # seconds per optimizer step, sampling included
    sampling_s_per_step: float
    total_tokens: float
    days: float


def flops_per_token(d: ModelDims, context: int) -> float:
    matmul_params = d.params if d.tied else d.params - d.embedding_params
    return TRAIN_FLOPS_PER_PARAM * matmul_params + ATTENTION_FLOPS * d.layers * d.hidden * context


def plan_speed(d: ModelDims, w: Workload, world: int, mfu: float, peak_tflops: float,
               hbm_tbps: float = 3.35) -> SpeedPlan:
    per_token = flops_per_token(d, w.seq_len)
    if w.stage == "grpo":
        # Stored log-probs: one more forward (2 FLOPs per parameter) for the reference model
        # and one for the old policy when a round makes several optimizer steps.
        extra_forwards = int(w.reference) + int(w.optimizer_steps_per_round > 1)
        per_token *= (6 + 2 * extra_forwards) / 6
    tokens_per_step = w.tokens_per_step(world)
    tokens_per_s = mfu * peak_tflops * 1e12 * world / per_token
    train_s = tokens_per_step / tokens_per_s
    sampling_s = 0.0
    if w.stage == "grpo":
        cache_per_token = d.layers * 2 * d.kv_dim * w.compute_bytes
        mean_context = w.seq_len - w.completion_len / 2
        read_per_decode_step = d.params * w.compute_bytes + w.rollouts_per_round * mean_context * cache_per_token
        round_s = w.completion_len * read_per_decode_step / (hbm_tbps * 1e12)
        sampling_s = round_s / w.optimizer_steps_per_round
    step_s = train_s + sampling_s
    total = float(w.max_steps) * tokens_per_step
    return SpeedPlan(per_token, tokens_per_step, tokens_per_s, step_s, sampling_s, total, w.max_steps * step_s / 86400)
