"""Chat examples longer than a row: cut the completion, or drop the example.

Text documents longer than ``seq_len`` are cut into pieces by the packer, but a piece of
a chat example without its prompt would teach answers to a question the model cannot
see. Chat examples therefore always fit one row, by the rule of
:func:`mist_pl.data.tokenization.encode_chat` with ``max_length = seq_len``:

- ``truncate`` (default): keep the first ``seq_len`` tokens (the whole prompt and the
  start of the completion); an example whose first ``seq_len`` tokens hold no trained
  token (the prompt alone fills the row) is dropped as ``prompt_too_long``.
- ``drop``: drop every example longer than ``seq_len`` as ``too_long``.

This runs when rows are planned, not in ``prepare``: shards do not depend on
``seq_len``, so the same shards serve any row length. Only the (few) overlong examples
have their masks read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mist_pl.data.packing import Documents
from mist_pl.data.transforms import OVERLONG_POLICIES


@dataclass
class OverlongCounts:
    """What :func:`fit_examples` did to one source's examples."""

    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> examples

    def add(self, other: "OverlongCounts") -> "OverlongCounts":
        self.truncated += other.truncated
        self.dropped.update(other.dropped)
        return self

    def summary(self) -> str:
        drops = ", ".join(f"{reason}={n}" for reason, n in sorted(self.dropped.items())) or "none dropped"
        return f"{self.truncated} truncated, {drops}"


def fit_examples(
    docs: Documents, doc_ids: np.ndarray, seq_len: int, policy: str
) -> tuple[np.ndarray, np.ndarray, OverlongCounts]:
    """``(kept_doc_ids, lengths, counts)``: the examples that fit ``seq_len`` after ``policy``,
    in their original order, and per-document lengths capped at ``seq_len`` for the planner."""
    if policy not in OVERLONG_POLICIES:
        raise ValueError(f"overlong policy {policy!r} must be one of {OVERLONG_POLICIES}")
    doc_ids = np.asarray(doc_ids, dtype=np.int64)
    counts = OverlongCounts()
    overlong = doc_ids[docs.lengths[doc_ids] > seq_len]
    if policy == "drop":
        rejected, reason = overlong, "too_long"
    else:
        # A trained token among positions 1..seq_len-1 (position 0 never has a label).
        fits = np.array([bool(docs.loss_mask(int(d))[1:seq_len].any()) for d in overlong], dtype=bool)
        rejected, reason = overlong[~fits], "prompt_too_long"
        counts.truncated = int(fits.sum())
    if len(rejected):
        counts.dropped[reason] = len(rejected)
    kept = doc_ids[~np.isin(doc_ids, rejected)] if len(rejected) else doc_ids
    return kept, np.minimum(docs.lengths, seq_len), counts
