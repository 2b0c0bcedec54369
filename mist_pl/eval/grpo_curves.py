"""Did a GRPO run learn? Read its TensorBoard scalars and say it with numbers.

A reward curve alone misleads in both directions: a flat curve may be a run whose groups
all agreed (no gradient at all), and a rising one may be noise over a few steps. So the
summary of one run states:

* ``zero_variance_frac``: the mean share of groups whose G completions all got the same
  reward (they contribute nothing to the update); ``signal_frac`` = 1 - that;
* ``reward_first`` / ``reward_last``: the mean of the per-step ``reward/mean`` over the
  first and the last quarter of the steps (at least one step each), and ``reward_rise``,
  their difference with a Welch 95% interval over the steps of the two quarters (each
  step's mean is itself an average over its P x G rollouts);
* the same quarters for the task's ``valid_rate`` and ``accuracy`` when they were logged.

Works on any run folder written by :class:`mist_pl.modules.grpo.GRPOModule` with the
TensorBoard logger.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from mist_pl.eval.stats import welch_interval

REWARD = "reward/mean"
ZERO_VARIANCE = "groups/zero_variance_frac"


def read_scalars(log_dir: Path | str, tags: Sequence[str]) -> dict[str, list[tuple[int, float]]]:
    """(step, value) points of each tag in a TensorBoard run folder; [] for a tag never logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    present = set(acc.Tags().get("scalars", []))
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] if tag in present else [] for tag in tags}


def quarters(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The first and the last quarter of a sequence, rounded up (10 steps: 3 and 3), so
    short runs keep enough points for an interval; they do not overlap when there are
    two values or more."""
    n = max(1, math.ceil(len(values) / 4))
    return list(values[:n]), list(values[-n:])


def summarize_curve(points: Sequence[tuple[int, float]]) -> dict:
    values = [v for _, v in points]
    if not values:
        return {"n_steps": 0}
    first, last = quarters(values)
    lo, hi = welch_interval(first, last)
    return {"n_steps": len(values), "first": statistics.fmean(first), "last": statistics.fmean(last),
            "rise": statistics.fmean(last) - statistics.fmean(first), "rise_lo": lo, "rise_hi": hi}


def grpo_learning(log_dir: Path | str, task: str | None = None) -> dict:
    """The summary above for one GRPO run; ``task`` adds its valid-rate and accuracy curves."""
    tags = [REWARD, ZERO_VARIANCE]
    if task is not None:
        tags += [f"task/{task}/valid_rate", f"task/{task}/accuracy"]
    return {"log_dir": str(log_dir), **learning_from_curves(read_scalars(log_dir, tags), task)}


def learning_from_curves(curves: dict[str, Sequence[Sequence[float]]], task: str | None = None) -> dict:
    """The summary of :func:`grpo_learning` from already read ``tag -> [(step, value)]``
    curves (e.g. saved with an earlier summary, to summarize them again)."""
    curves = {tag: [tuple(point) for point in points] for tag, points in curves.items()}
    zero = [v for _, v in curves.get(ZERO_VARIANCE, [])]
    summary = {
        "reward": summarize_curve(curves.get(REWARD, [])),
        "zero_variance_frac": statistics.fmean(zero) if zero else None,
        "signal_frac": 1 - statistics.fmean(zero) if zero else None,
        "curves": curves,
    }
    if task is not None:
        summary["valid_rate"] = summarize_curve(curves.get(f"task/{task}/valid_rate", []))
        summary["accuracy"] = summarize_curve(curves.get(f"task/{task}/accuracy", []))
    return summary


def describe_learning(summary: dict) -> str:
    """One line: signal share and the reward's first-to-last-quarter change with its interval."""
    reward = summary["reward"]
    if not reward.get("n_steps"):
        return "no GRPO steps logged"
    parts = [f"{reward['n_steps']} steps"]
    if summary.get("signal_frac") is not None:
        parts.append(f"groups with reward variance {100 * summary['signal_frac']:.0f}%")
    rise = f"reward {reward['first']:+.3f} (first quarter) -> {reward['last']:+.3f} (last quarter)"
    if reward.get("rise_lo") is not None:
        rise += f", change {reward['rise']:+.3f} [95% CI {reward['rise_lo']:+.3f}, {reward['rise_hi']:+.3f}]"
    parts.append(rise)
    valid = summary.get("valid_rate", {})
    if valid.get("n_steps"):
        parts.append(f"valid sampled answers {100 * valid['first']:.0f}% -> {100 * valid['last']:.0f}%")
    return "; ".join(parts)


def plot_learning(summaries: dict[str, dict], path: Path | str) -> Path:
    """One row per GRPO run (task -> :func:`grpo_learning` summary): reward, valid-answer
    rate and zero-variance share per step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    panels = ((REWARD, "reward/mean"), ("task/{task}/valid_rate", "valid answers (sampled)"),
              ("task/{task}/accuracy", "right answers (sampled)"), (ZERO_VARIANCE, "zero-variance groups"))
    fig, axes = plt.subplots(len(summaries), len(panels), figsize=(16, 3.2 * len(summaries)), squeeze=False)
    for row, (task, summary) in enumerate(summaries.items()):
        for col, (tag, title) in enumerate(panels):
            ax = axes[row][col]
            points = summary["curves"].get(tag.format(task=task), [])
            if points:
                ax.plot(*zip(*points), marker=".", linewidth=1.5)
            ax.set_title(f"GRPO {task}: {title}", fontsize=10)
            ax.set_xlabel("optimizer step")
            if col:  # shares on a fixed 0-1 axis: a flat line must look flat
                ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
