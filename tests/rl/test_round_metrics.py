"""The GRPO round's metrics (mist_pl.rl.metrics) on hand-made step statistics."""

import math

import pytest

from mist_pl.rl.metrics import MISMATCH_KEYS, mismatch_metrics, update_metrics
from mist_pl.rl.mismatch import MismatchStats


def one_process(value, op):  # the identity all-reduce of a single process
    return value


def step(**values):
    base = {"loss": 0.0, "tokens": 0.0, "kl": 0.0, "clipped_low": 0.0, "clipped_high": 0.0, "ratio": 0.0,
            "entropy": 0.0, "skipped": 0.0, "gap_old": 0.0, "gap_ref": 0.0}
    return {**base, **values}


def test_update_metrics_by_hand():
    steps = [step(loss=1.0, tokens=10, kl=0.5, clipped_low=1, clipped_high=2, ratio=10.0, entropy=20.0, gap_ref=1e-7),
             step(loss=3.0, tokens=30, kl=1.5, clipped_low=0, clipped_high=1, ratio=33.0, entropy=40.0)]
    out = update_metrics(steps, has_reference=True, measures_old_gap=False, all_reduce=one_process)
    assert out["train/loss"] == 2.0  # mean over steps
    assert out["train/clip_frac"] == pytest.approx(4 / 40)
    assert out["train/clip_frac_low"] == pytest.approx(1 / 40) and out["train/clip_frac_high"] == pytest.approx(3 / 40)
    assert out["train/ratio_mean"] == pytest.approx(43 / 40)
    assert out["train/entropy"] == pytest.approx(60 / 40)
    assert out["train/kl"] == pytest.approx(2.0 / 40)
    # first-step checks read the first step alone
    assert out["train/first_step_ratio"] == 1.0 and out["train/first_step_kl"] == pytest.approx(0.05)
    assert out["train/logprob_gap_ref_max"] == 1e-7
    assert "train/logprob_gap_old_max" not in out


def test_without_reference_kl_is_absent_and_a_skipped_first_step_gives_nan():
    out = update_metrics([step(skipped=1.0), step(tokens=4, ratio=4.0)], has_reference=False, measures_old_gap=True,
                         all_reduce=one_process)
    assert "train/kl" not in out and "train/first_step_kl" not in out
    assert math.isnan(out["train/first_step_ratio"]) and math.isnan(out["train/logprob_gap_old_max"])
    assert out["train/skipped_updates"] == 1.0


def test_mismatch_metrics_sum_over_ranks_and_nan_when_nothing_was_measured():
    a = MismatchStats(tokens=4, abs_diff=0.4, max_abs_diff=0.2, kl=0.04, weight=4.0, weight_max=1.0, changed=1)
    b = MismatchStats(tokens=6, abs_diff=0.6, max_abs_diff=0.3, kl=0.06, weight=5.0, weight_max=1.5, changed=2)
    out = mismatch_metrics([a, b], one_process)
    assert out["sampler/logprob_diff_mean"] == pytest.approx(0.1) and out["sampler/logprob_diff_max"] == 0.3
    assert out["sampler/kl"] == pytest.approx(0.01) and out["sampler/is_weight_mean"] == pytest.approx(0.9)
    assert out["sampler/is_weight_max"] == 1.5 and out["sampler/is_changed_frac"] == pytest.approx(0.3)

    def two_ranks(value, op):  # a second rank that measured the same as this one
        return 2 * value if op == "sum" else value

    doubled = mismatch_metrics([a, b], two_ranks)
    assert doubled["sampler/logprob_diff_mean"] == pytest.approx(0.1) and doubled["sampler/kl"] == pytest.approx(0.01)
    empty = mismatch_metrics([], one_process)
    assert set(empty) == set(MISMATCH_KEYS) and all(math.isnan(v) for v in empty.values())
