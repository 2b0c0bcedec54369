"""What one GRPO round logs: pure functions from the round's samples, rewards and
optimizer-step statistics to ``{name: float}``.

``GRPOModule`` (:mod:`mist_pl.modules.grpo`) calls them once per round and hands the
dicts to Lightning. Values summed over data-parallel ranks go through ``all_reduce``
(``(value, "sum" | "max") -> float``; the identity on one process), so these functions
need no process group of their own and are tested on plain dicts.

Names, by prefix: ``reward/`` and ``groups/`` (what the rewards paid and how many groups
had a signal), ``completions/`` (lengths, truncation), ``perf/`` (sampling, weight sync,
reward seconds), ``train/`` (loss, clipping, ratio, entropy, KL and the first-step
checks), ``sampler/`` (the sampler-trainer gap, :mod:`mist_pl.rl.mismatch`) and
``task/<name>/`` (per-task reward, accuracy and valid-answer rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from mist_pl.rl.mismatch import MismatchStats

AllReduce = Callable[[float, str], float]
MISMATCH_KEYS = ("sampler/logprob_diff_mean", "sampler/logprob_diff_max", "sampler/kl",
                 "sampler/is_weight_mean", "sampler/is_weight_max", "sampler/is_changed_frac")


def round_metrics(samples: Any, scored: Any, totals: torch.Tensor, adv: Any, reward_s: float, nonfinite: int) -> dict:
    """The round's rewards (NaN totals are unscored completions), group signal,
    completion lengths and sampling speed."""
    lengths = samples.completion_lengths.float()
    valid = totals[~torch.isnan(totals)]
    rate = samples.num_generated_tokens / max(samples.seconds, 1e-9)
    metrics = {
        "reward/mean": float(valid.mean()) if valid.numel() else 0.0,
        "reward/std": float(valid.std(unbiased=False)) if valid.numel() else 0.0,
        "reward/unscored": float(torch.isnan(totals).sum()),
        "groups/zero_variance_frac": float(adv.zero_variance.float().mean()),
        "completions/length_mean": float(lengths.mean()),
        "completions/length_max": float(lengths.max()),
        "completions/truncated_frac": float((~samples.stopped).float().mean()),
        "rollouts/nonfinite_logprobs": float(nonfinite),
        "perf/sampling_tokens_per_s": rate,
        "perf/generation_tokens_per_s": rate,  # the name the engines are compared by (weight sync apart)
        "perf/sampling_s": samples.seconds,
        "perf/weight_sync_s": samples.weight_sync_s,
        "perf/reward_s": reward_s,
    }
    for name, values in scored.per_function.items():
        got = torch.tensor([v for v in values if v is not None], dtype=torch.float32)
        metrics[f"reward/{name}/mean"] = float(got.mean()) if got.numel() else 0.0
        metrics[f"reward/{name}/std"] = float(got.std(unbiased=False)) if got.numel() else 0.0
        metrics[f"reward/{name}/failed"] = float(scored.failed[name])
        metrics[f"reward/{name}/none"] = float(scored.skipped[name])
    return metrics


def task_metrics(tasks: Sequence | None, totals: torch.Tensor, top1: Sequence, valid: Sequence | None = None) -> dict:
    """Per-task reward mean/std, ``accuracy`` (share of judged completions that are
    right) and ``valid_rate`` (share that are well-typed answers, right or wrong: low
    accuracy with a high valid rate means "cannot solve", not "cannot format").
    A rate is left out when no completion of the task was judged."""
    if not tasks:
        return {}
    out = {}
    for task in sorted({t for t in tasks if isinstance(t, str)}):
        rows = [i for i, t in enumerate(tasks) if t == task]
        values = totals[rows]
        values = values[~torch.isnan(values)]
        if values.numel():
            out[f"task/{task}/reward_mean"] = float(values.mean())
            out[f"task/{task}/reward_std"] = float(values.std(unbiased=False))
        hits = [top1[i] for i in rows if top1 and top1[i] is not None]
        if hits:
            out[f"task/{task}/accuracy"] = sum(hits) / len(hits)
        valid_flags = [valid[i] for i in rows if valid and valid[i] is not None]
        if valid_flags:
            out[f"task/{task}/valid_rate"] = sum(valid_flags) / len(valid_flags)
    return out


def update_metrics(steps: list[dict], has_reference: bool, measures_old_gap: bool, all_reduce: AllReduce) -> dict:
    """The round's optimizer steps (one stats dict each, as ``GRPOModule`` sums them):
    loss, clipping, ratio, entropy, KL when there is a reference, and the first-step
    checks. The round's first step runs the policy that sampled, so what it gives apart
    from the stored log-probs is numerics alone (0 when computed the same way); those
    checks are NaN when that step was skipped (every rank skips it together), never a
    stale value."""
    tokens = sum(s["tokens"] for s in steps)
    denom = max(tokens, 1.0)
    low, high = sum(s["clipped_low"] for s in steps), sum(s["clipped_high"] for s in steps)
    out = {
        "train/loss": sum(s["loss"] for s in steps) / max(len(steps), 1),
        "train/skipped_updates": sum(s["skipped"] for s in steps),
        "train/clip_frac": (low + high) / denom,
        "train/clip_frac_low": low / denom,
        "train/clip_frac_high": high / denom,
        "train/ratio_mean": sum(s["ratio"] for s in steps) / denom if tokens else 1.0,
        "train/entropy": sum(s["entropy"] for s in steps) / denom,
    }
    if has_reference:  # beta == 0: no reference, so KL is absent, not NaN
        out["train/kl"] = sum(s["kl"] for s in steps) / denom
    first = steps[0] if steps else {"skipped": 1.0}
    done = not first["skipped"]
    first_tokens = max(first.get("tokens", 0.0), 1.0)
    out["train/first_step_ratio"] = first["ratio"] / first_tokens if done else math.nan
    if measures_old_gap:
        out["train/logprob_gap_old_max"] = all_reduce(first["gap_old"], "max") if done else math.nan
    if has_reference:
        out["train/first_step_kl"] = first["kl"] / first_tokens if done else math.nan
        out["train/logprob_gap_ref_max"] = all_reduce(first["gap_ref"], "max") if done else math.nan
    return out


def mismatch_metrics(measured: list[MismatchStats], all_reduce: AllReduce) -> dict:
    """The sampler-trainer gap over the round (every rank's tokens). With stored old
    log-probs every pass measures the same tokens against the same values, so summing
    over passes leaves means and maxima as they are. NaN when every step of the round
    was skipped: nothing measured."""
    total = MismatchStats()
    for m in measured:
        total.add(m)
    tokens = all_reduce(total.tokens, "sum")
    if not tokens:
        return dict.fromkeys(MISMATCH_KEYS, math.nan)
    return {
        "sampler/logprob_diff_mean": all_reduce(total.abs_diff, "sum") / tokens,
        "sampler/logprob_diff_max": all_reduce(total.max_abs_diff, "max"),
        "sampler/kl": all_reduce(total.kl, "sum") / tokens,
        "sampler/is_weight_mean": all_reduce(total.weight, "sum") / tokens,
        "sampler/is_weight_max": all_reduce(total.weight_max, "max"),
        "sampler/is_changed_frac": all_reduce(total.changed, "sum") / tokens,
    }
