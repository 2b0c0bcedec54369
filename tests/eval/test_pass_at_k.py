"""The unbiased pass@k estimator against known values and brute-force enumeration."""

import itertools
import math

import pytest

from mist_pl.eval.stats import mean_pass_at_k, pass_at_k


def brute_force(n, c, k):
    """Share of the k-subsets of n samples (c of them correct) that hold a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


def test_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(8, 1, 8) == 1.0
    assert pass_at_k(8, 8, 8) == 1.0
    assert pass_at_k(8, 0, 8) == 0.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c < k: every draw holds a correct sample


@pytest.mark.parametrize("n", range(1, 10))
def test_matches_brute_force_and_binomials(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            expected = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_stable_for_large_n():
    # C(1000, 8) overflows floats as a ratio of factorials; the product form does not.
    assert pass_at_k(1000, 1, 8) == pytest.approx(0.008)
    assert pass_at_k(100_000, 5, 100) == pytest.approx(1 - math.comb(99_995, 100) / math.comb(100_000, 100))


def test_mean_and_validation():
    assert mean_pass_at_k([0, 3, 10], n=10, k=1) == pytest.approx((0 + 0.3 + 1) / 3)
    assert mean_pass_at_k([], n=8, k=8) is None
    for bad in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)
