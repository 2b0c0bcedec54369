"""The mixture stream: sample ``i`` is a pure function of ``(seed, i)``.

Every sample is one packed row of ``seq_len`` tokens from a single source. Two seeded,
precomputed layers decide which:

1. :class:`MixtureSchedule` splits the stream into *mixture epochs* of ``E`` rows in
   which source ``s`` fills exactly ``n_s`` rows (its share, see :func:`rows_per_epoch`),
   in an order shuffled per epoch with the seed. Position ``i`` is row ``k`` of source
   ``s`` where ``k`` counts the earlier positions of ``s``: the per-source cursor is
   ``epoch * n_s + rank within the epoch``, computed without walking the stream.
2. :class:`SourceRows` turns ``k`` into a row of that source's :class:`PackPlan`: the
   plan's rows are visited in a seeded order that is reshuffled each pass, so a source
   smaller than its share repeats (upsampling) and a larger one is subsampled per pass.

Nothing depends on what was drawn before, so resuming is "start at index N", DDP ranks
and dataloader workers read disjoint interleaved indices, and the realized mixture of
the first N samples can be computed exactly on any rank (:meth:`Mixture.realized`).

Rows (not tokens) are scheduled, so a source whose documents pack less densely would be
under-represented in tokens; :func:`rows_per_epoch` divides each weight by the source's
tokens per row to make the *token* shares match the weights.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mist_pl.data.packing import Documents, PackPlan, build_row

MAX_EPOCH_ROWS = 1 << 26
"""Most rows one mixture epoch may have. The schedule holds a source and a rank per row
for the two epochs it caches (32 bytes a row: 2 GiB at this size, in every dataloader
worker), so a larger epoch is refused before anything is allocated."""


class EpochTooLarge(ValueError):
    """Token budgets or an epoch length that need more rows than :data:`MAX_EPOCH_ROWS`."""

    def __init__(self, rows: float) -> None:
        super().__init__(f"a mixture epoch of {rows:.3g} rows; at most {MAX_EPOCH_ROWS:,} fit")
        self.rows = rows


def seeded_rng(*key: int) -> np.random.Generator:
    # SeedSequence over a tuple of ints: independent, platform-stable streams per key.
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def stable_key(name: str) -> int:
    """A per-name integer that does not depend on the source's position in the mix."""
    return zlib.crc32(name.encode())


def apportion(total: int, weights: Sequence[float]) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder; ties by order)."""
    weights = np.asarray(weights, dtype=np.float64)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    remainder = total - int(counts.sum())
    if remainder:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:remainder]] += 1
    return counts


def rows_per_epoch(
    tokens_per_row: Sequence[float],
    weights: Optional[Sequence[float]] = None,
    budgets: Optional[Sequence[int]] = None,
    epoch_tokens: Optional[int] = None,
) -> np.ndarray:
    """Rows of each source in one mixture epoch.

    With ``budgets`` (tokens per epoch per source): ``ceil(budget / tokens_per_row)``.
    With ``weights`` (token shares): the epoch holds about ``epoch_tokens`` tokens and
    source ``s`` gets rows in proportion to ``weight_s / tokens_per_row_s``. Raises
    :class:`EpochTooLarge` beyond :data:`MAX_EPOCH_ROWS` rows (counted in floats, before
    a count could overflow int64).
    """
    per_row = np.asarray(tokens_per_row, dtype=np.float64)
    if budgets is not None:
        rows = np.ceil(np.asarray(budgets, dtype=np.float64) / per_row)
        _check_epoch_rows(float(rows.sum()))
        return rows.astype(np.int64)
    shares = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    row_weights = shares / per_row
    # Expected tokens per row under these row weights is 1 / sum(row_weights).
    rows = float(np.ceil(epoch_tokens * row_weights.sum()))
    _check_epoch_rows(rows)
    return apportion(max(1, int(rows)), row_weights)


def _check_epoch_rows(rows: float) -> None:
    if not rows <= MAX_EPOCH_ROWS:  # NaN and inf included
        raise EpochTooLarge(rows)


class MixtureSchedule:
    """Which source fills stream position ``i``, and which of that source's rows it is."""

    def __init__(self, counts: Sequence[int], seed: int) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.counts.sum() <= 0:
            raise ValueError("a mixture epoch needs at least one row")
        self.epoch_rows = int(self.counts.sum())
        self.seed = seed
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(source, rank)`` for each position of one epoch; rank counts earlier rows of that source."""
        if epoch in self._cache:
            self._cache.move_to_end(epoch)
            return self._cache[epoch]
        sources = np.repeat(np.arange(len(self.counts)), self.counts)
        sources = sources[seeded_rng(self.seed, 0x6D6978, epoch).permutation(len(sources))]
        order = np.argsort(sources, kind="stable")
        rank = np.empty(len(sources), dtype=np.int64)
        rank[order] = np.arange(len(sources)) - np.repeat(np.cumsum(self.counts) - self.counts, self.counts)
        self._cache[epoch] = (sources, rank)
        if len(self._cache) > 2:
            self._cache.popitem(last=False)
        return sources, rank

    def locate(self, index: int) -> tuple[int, int]:
        """``(source, k)``: position ``index`` is row ``k`` of ``source``'s own stream."""
        epoch, offset = divmod(int(index), self.epoch_rows)
        sources, rank = self._epoch(epoch)
        source = int(sources[offset])
        return source, int(epoch * self.counts[source] + rank[offset])

    def rows_before(self, n: int) -> np.ndarray:
        """How many of the first ``n`` positions each source fills."""
        epoch, offset = divmod(int(n), self.epoch_rows)
        partial = np.bincount(self._epoch(epoch)[0][:offset], minlength=len(self.counts)) if offset else 0
        return epoch * self.counts + partial


class SourceRows:
    """Row ``k`` of one source's endless stream: plan rows in a fresh seeded order each pass."""

    def __init__(self, plan: PackPlan, seed: int, key: int) -> None:
        if plan.num_rows == 0:
            raise ValueError("a source needs at least one packed row")
        self.plan = plan
        self.seed, self.key = seed, key
        self.row_tokens = plan.row_tokens()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            self._cache[epoch] = seeded_rng(self.seed, self.key, epoch).permutation(self.plan.num_rows)
            if len(self._cache) > 2:
                self._cache.popitem(last=False)
        return self._cache[epoch]

    def plan_row(self, k: int) -> int:
        epoch, offset = divmod(int(k), self.plan.num_rows)
        return int(self._order(epoch)[offset])

    def tokens_before(self, k: int) -> int:
        """Non-padding tokens in this source's first ``k`` rows."""
        epoch, offset = divmod(int(k), self.plan.num_rows)
        partial = int(self.row_tokens[self._order(epoch)[:offset]].sum()) if offset else 0
        return epoch * int(self.row_tokens.sum()) + partial


@dataclass
class MixtureSource:
    """A source ready to be mixed: its documents, packing plan and target token share."""

    name: str
    docs: Documents
    plan: PackPlan
    weight: float


class Mixture:
    """Sample ``i`` of the stream: ``(source_id, (input_ids, labels, position_ids))``."""

    def __init__(self, sources: Sequence[MixtureSource], counts: Sequence[int], seed: int, eos_id: int, pad_id: int):
        self.sources = list(sources)
        self.schedule = MixtureSchedule(counts, seed)
        self.rows = [SourceRows(s.plan, seed, stable_key(s.name)) for s in self.sources]
        self.eos_id, self.pad_id = eos_id, pad_id

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def sample(self, index: int) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        source, k = self.schedule.locate(index)
        src = self.sources[source]
        return source, build_row(src.plan, self.rows[source].plan_row(k), src.docs, self.eos_id, self.pad_id)

    def realized(self, n: int) -> dict[str, dict[str, float]]:
        """Rows, tokens and token shares of each source among the first ``n`` samples, vs targets."""
        rows = self.schedule.rows_before(n)
        tokens = np.array([r.tokens_before(k) for r, k in zip(self.rows, rows)], dtype=np.int64)
        total = max(int(tokens.sum()), 1)
        return {
            s.name: {
                "rows": int(rows[i]),
                "tokens": int(tokens[i]),
                "token_share": float(tokens[i]) / total,
                "target_share": s.weight,
            }
            for i, s in enumerate(self.sources)
        }
