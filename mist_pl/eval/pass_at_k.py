"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models
Trained on Code").

With ``n`` samples of which ``c`` are correct, the probability that at least one of
``k`` samples drawn without replacement is correct is

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i),

the product form avoiding the huge binomials. It is 1 when ``n - c < k`` (every draw of
k contains a correct sample) and 0 when ``c = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


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
