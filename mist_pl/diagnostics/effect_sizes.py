"""Effect sizes for "does the model prefer the true text over the corrupted one?".

All functions take log-prob scores (higher = more likely) and return ``None`` when the
quantity is undefined (too few values, zero spread), never NaN, so summaries stay valid
JSON and a logger never receives a NaN.

Formulas (``a`` = scores of the true texts, ``b`` = scores of the corrupted ones):

* :func:`cohens_d` -- Cohen's d with the pooled standard deviation, computed on the two
  samples as independent groups even when they are paired:
  ``d = (mean(a) - mean(b)) / s_p``,
  ``s_p = sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))``,
  ``s^2`` the unbiased (ddof = 1) variance. For paired data (n_a = n_b) this is
  ``s_p = sqrt((s_a^2 + s_b^2) / 2)``. It is *not* d_z (mean difference over the SD of
  the differences), which would grow with the pairing correlation.
* :func:`superiority` -- probability of superiority over matched pairs (common-language
  effect size for paired data): ``P(a_i > b_i) + 0.5 P(a_i = b_i)``; 0.5 = no preference.
* :func:`rank_biserial` -- matched-pairs rank-biserial correlation (Kerby 2014), the
  effect size of the Wilcoxon signed-rank test: with ``d_i = a_i - b_i``, zero
  differences dropped and ``|d_i|`` ranked (ties get average ranks),
  ``r = (R+ - R-) / (R+ + R-)`` in [-1, 1]; 0 = no preference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def _finite_array(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of scores, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite: drop unscored items before computing effect sizes")
    return array


def _check_paired(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"paired effect sizes need equal lengths, got {a.size} and {b.size}")


def pooled_std(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pooled standard deviation (see the module docstring); None if n_a + n_b < 3 or
    either group is empty."""
    a, b = _finite_array(a), _finite_array(b)
    n_a, n_b = a.size, b.size
    if n_a == 0 or n_b == 0 or n_a + n_b < 3:
        return None
    ss_a = float(((a - a.mean()) ** 2).sum())
    ss_b = float(((b - b.mean()) ** 2).sum())
    return math.sqrt((ss_a + ss_b) / (n_a + n_b - 2))


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cohen's d of ``a`` over ``b`` with the pooled SD; None when the SD is 0 or undefined."""
    s_p = pooled_std(a, b)
    if s_p is None or s_p == 0.0:
        return None
    return (float(np.mean(a)) - float(np.mean(b))) / s_p


def superiority(a: Sequence[float], b: Sequence[float]) -> float | None:
    """P(a_i > b_i) + 0.5 P(a_i = b_i) over matched pairs; None for no pairs."""
    a, b = _finite_array(a), _finite_array(b)
    _check_paired(a, b)
    if a.size == 0:
        return None
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / a.size)


def rank_biserial(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Matched-pairs rank-biserial correlation; None when every difference is zero."""
    a, b = _finite_array(a), _finite_array(b)
    _check_paired(a, b)
    diff = a - b
    diff = diff[diff != 0]
    if diff.size == 0:
        return None
    ranks = rankdata(np.abs(diff))  # average ranks for ties
    positive, negative = float(ranks[diff > 0].sum()), float(ranks[diff < 0].sum())
    return (positive - negative) / (positive + negative)


def paired_summary(true_scores: Sequence[float], corrupt_scores: Sequence[float]) -> dict[str, float | int | None]:
    """The standard block of numbers every paired diagnostic reports."""
    a, b = _finite_array(true_scores), _finite_array(corrupt_scores)
    _check_paired(a, b)
    return {
        "n_pairs": int(a.size),
        "mean_true": float(a.mean()) if a.size else None,
        "mean_corrupt": float(b.mean()) if b.size else None,
        "mean_diff": float((a - b).mean()) if a.size else None,
        "cohens_d": cohens_d(a, b),
        "superiority": superiority(a, b),
        "rank_biserial": rank_biserial(a, b),
    }


FORMULAS = {
    "cohens_d": "(mean_true - mean_corrupt) / s_p with the pooled SD s_p = sqrt(((n1-1)s1^2 + (n2-1)s2^2) / (n1+n2-2)), "
    "ddof=1 variances, the two samples treated as groups (not d_z)",
    "superiority": "P(true_i > corrupt_i) + 0.5 P(true_i = corrupt_i) over matched pairs",
    "rank_biserial": "matched-pairs rank-biserial r = (R+ - R-) / (R+ + R-), ranks of |true_i - corrupt_i|, "
    "zero differences dropped, ties averaged (Kerby 2014)",
}
