"""Effect sizes against values computed by hand from their definitions."""

import math

import numpy as np
import pytest

from mist_pl.diagnostics.effect_sizes import cohens_d, paired_summary, pooled_std, rank_biserial, superiority

A = [1.0, 2.0, 3.0, 4.0]
B = [0.0, 2.0, 4.0, 2.0]  # differences 1, 0, -1, 2


def test_cohens_d_paired_by_hand():
    # mean 2.5 vs 2.0; variances (ddof 1) 5/3 and 8/3; pooled = sqrt((5/3 + 8/3) / 2)
    assert cohens_d(A, B) == pytest.approx(0.5 / math.sqrt(13 / 6))
    assert cohens_d(B, A) == pytest.approx(-0.5 / math.sqrt(13 / 6))


def test_cohens_d_unequal_sizes_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    # variances 1 and 10; pooled = sqrt((2 * 1 + 4 * 10) / (3 + 5 - 2)) = sqrt(7)
    assert pooled_std(a, b) == pytest.approx(math.sqrt(7))
    assert cohens_d(a, b) == pytest.approx(-4 / math.sqrt(7))


def test_cohens_d_matches_numpy_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 2, 30), rng.normal(0, 1, 30)
    s_p = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    assert cohens_d(a, b) == pytest.approx((a.mean() - b.mean()) / s_p)


def test_superiority_counts_ties_as_half():
    assert superiority(A, B) == pytest.approx((2 + 0.5) / 4)
    assert superiority([1, 1], [0, 0]) == 1.0
    assert superiority([0, 0], [1, 1]) == 0.0


def test_rank_biserial_by_hand():
    # non-zero differences 1, -1, 2 -> |d| ranks 1.5, 1.5, 3; R+ = 4.5, R- = 1.5
    assert rank_biserial(A, B) == pytest.approx((4.5 - 1.5) / 6)
    assert rank_biserial([2, 3], [1, 1]) == 1.0
    assert rank_biserial([1, 1], [2, 3]) == -1.0


@pytest.mark.parametrize("fn", [superiority, rank_biserial])
def test_paired_measures_need_equal_lengths(fn):
    with pytest.raises(ValueError):
        fn([1.0, 2.0], [1.0])


def test_undefined_values_are_none_not_nan():
    assert cohens_d([1.0, 1.0], [1.0, 1.0]) is None  # zero spread
    assert cohens_d([1.0], [2.0]) is None  # no degrees of freedom
    assert cohens_d([], [1.0, 2.0]) is None
    assert superiority([], []) is None
    assert rank_biserial([1.0, 2.0], [1.0, 2.0]) is None  # every difference zero
    summary = paired_summary([], [])
    assert summary["n_pairs"] == 0 and summary["cohens_d"] is None and summary["mean_true"] is None


def test_non_finite_scores_are_rejected():
    with pytest.raises(ValueError):
        cohens_d([1.0, float("nan")], [0.0, 1.0])
