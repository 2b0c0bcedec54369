"""The statistics behind every number mist-pl reports: pass@k and 95% intervals.

pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
Trained on Code"). With ``n`` samples of which ``c`` are correct, the probability that at
least one of ``k`` samples drawn without replacement is correct is

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i),

the product form avoiding the huge binomials. It is 1 when ``n - c < k`` (every draw of
k contains a correct sample) and 0 when ``c = 0``.

95% intervals, for a rate, a mean over seeds, a change. Small samples are the norm here
(tens of test examples, two or three seeds, a few dozen RL steps), so each interval is
one that behaves at that size:

* :func:`wilson_interval` for a proportion (top-1, valid-answer rate): sane at 0 or n
  hits, unlike the normal approximation;
* :func:`newcombe_interval` for a change of a proportion between independent samples:
  Newcombe's hybrid score interval, built from the two Wilson intervals;
* :func:`paired_interval` for a change measured on the same examples (top-1 after RL
  minus before): the same, with the pairs' correlation;
* :func:`mean_ci` for a mean across seeds: Student t (with two seeds its interval is
  wide by design; callers show the seed values themselves there);
* :func:`welch_interval` for a difference of two means with unequal variances (reward in
  the last quarter of RL steps minus the first).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import stats as scipy_stats

Z_95 = 1.959964


# -- pass@k -----------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``c`` correct out of ``n`` samples."""
    if not (0 <= c <= n):
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not (1 <= k <= n):
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(correct_counts: Sequence[int], n: int, k: int) -> float | None:
    """pass@k averaged over problems (each with ``n`` samples); None for no problems."""
    if not correct_counts:
        return None
    return math.fsum(pass_at_k(n, c, k) for c in correct_counts) / len(correct_counts)


# -- 95% intervals ---------------------------------------------------------------------

def wilson_interval(hits: int, n: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """Wilson score interval for ``hits`` successes in ``n`` trials; (None, None) for n = 0."""
    if n <= 0:
        return None, None
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(hits_a: int, n_a: int, hits_b: int, n_b: int,
                      z: float = Z_95) -> tuple[float | None, float | None]:
    """95% interval for ``hits_b / n_b - hits_a / n_a`` (Newcombe 1998, method 10).

    Treats the two samples as independent; for the same test examples measured twice
    (before and after RL) that is conservative: the paired interval is narrower."""
    if n_a <= 0 or n_b <= 0:
        return None, None
    pa, pb = hits_a / n_a, hits_b / n_b
    la, ua = wilson_interval(hits_a, n_a, z)
    lb, ub = wilson_interval(hits_b, n_b, z)
    diff = pb - pa
    lo = diff - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    hi = diff + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    return max(-1.0, lo), min(1.0, hi)


def paired_interval(before: Sequence[bool], after: Sequence[bool],
                    z: float = Z_95) -> tuple[float | None, float | None]:
    """95% interval for the change of a rate measured twice on the same examples
    (``mean(after) - mean(before)``): Newcombe's method 10 for paired proportions (1998),
    the two Wilson intervals combined with the correlation of the pairs (continuity-
    corrected phi). Narrower than :func:`newcombe_interval` when the pairs agree, as
    before/after RL on one test set mostly do; (None, None) without pairs."""
    if len(before) != len(after):
        raise ValueError(f"paired_interval needs one pair per example: {len(before)} before, {len(after)} after")
    n = len(before)
    if n == 0:
        return None, None
    both = sum(1 for x, y in zip(before, after) if x and y)
    only_before = sum(1 for x, y in zip(before, after) if x and not y)
    only_after = sum(1 for x, y in zip(before, after) if y and not x)
    neither = n - both - only_before - only_after
    p_before, p_after = (both + only_before) / n, (both + only_after) / n
    lb, ub = wilson_interval(both + only_before, n, z)
    la, ua = wilson_interval(both + only_after, n, z)
    margins = (both + only_before) * (only_after + neither) * (both + only_after) * (only_before + neither)
    cross = both * neither - only_before * only_after
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(margins) if margins else 0.0
    diff = p_after - p_before
    down = math.sqrt(max(0.0, (p_after - la) ** 2 - 2 * phi * (p_after - la) * (ub - p_before) + (ub - p_before) ** 2))
    up = math.sqrt(max(0.0, (ua - p_after) ** 2 - 2 * phi * (ua - p_after) * (p_before - lb) + (p_before - lb) ** 2))
    return max(-1.0, diff - down), min(1.0, diff + up)


def t_quantile_975(df: float) -> float:
    """Two-sided 95% Student t quantile; NaN below one degree of freedom."""
    return float(scipy_stats.t.ppf(0.975, df)) if df >= 1 else float("nan")


def mean_ci(values: Sequence[float | None]) -> dict:
    """Mean and t-based 95% CI (None/NaN values dropped; a single value has no CI)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not xs:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": mean, "lo": None, "hi": None, "n": 1}
    half = t_quantile_975(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(xs)}


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, float | None]:
    """95% interval for ``mean(b) - mean(a)`` with Welch's t; (None, None) without two
    values on each side. No spread on either side gives the difference itself."""
    if len(a) < 2 or len(b) < 2:
        return None, None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(b) - statistics.fmean(a)
    if va + vb == 0:
        return diff, diff
    # Welch-Satterthwaite degrees of freedom (a side without spread adds no term).
    terms = [v * v / (len(x) - 1) for v, x in ((va, a), (vb, b)) if v > 0]
    df = (va + vb) ** 2 / sum(terms)
    half = t_quantile_975(df) * math.sqrt(va + vb)
    return diff - half, diff + half
