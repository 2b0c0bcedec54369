"""Torch datasets over a :class:`~mist_pl.data.mixture.Mixture`: the training stream and held-out rows.

:class:`MixtureStream` yields whole batches (use it with ``DataLoader(batch_size=None)``)
because batch composition must not depend on how many workers build them. Local batch
``n`` of rank ``r`` (counting from the stream's ``start``) holds the global samples::

    start + n * B * W + j * W + r        for j in 0..B-1    (B = batch size, W = world size)

so ranks interleave, a global step consumes ``B * W`` consecutive samples, and worker
``w`` of ``K`` builds batches ``n = w, w + K, ...`` which the DataLoader hands out in
order ``0, 1, 2 ...``. The batches are identical for 0, 1 or 8 workers, and resuming
after ``N`` consumed samples is ``start = N``.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from mist_pl.data.mixture import Mixture, MixtureSource
from mist_pl.data.packing import build_row, collate_rows


class MixtureStream(IterableDataset):
    """Batches of packed rows from the mixture, for one rank.

    Args:
        mixture: the sample function.
        batch_size: rows per batch on this rank.
        batches_per_epoch: length of a loader epoch (per rank); an epoch ends at the next
            multiple of ``batches_per_epoch * B * W`` global samples, so an epoch resumed
            in the middle yields only its remaining batches.
        start: global samples already consumed (set by the data module when resuming).
        rank, world_size: this process' place among data-parallel ranks.
    """

    def __init__(
        self,
        mixture: Mixture,
        batch_size: int,
        batches_per_epoch: int,
        start: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.mixture = mixture
        self.batch_size = batch_size
        self.batches_per_epoch = max(1, batches_per_epoch)
        self.start = start
        self.rank, self.world_size = rank, world_size

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        return self.batches_per_epoch

    def batch_indices(self, n: int, start: int | None = None) -> list[int]:
        """Global sample indices of local batch ``n`` counted from ``start``."""
        base = (self.start if start is None else start) + n * self.samples_per_step
        return [base + j * self.world_size + self.rank for j in range(self.batch_size)]

    def batch(self, n: int, start: int | None = None) -> dict[str, torch.Tensor]:
        indices = self.batch_indices(n, start)
        sources, rows = zip(*(self.mixture.sample(i) for i in indices))
        return collate_rows(rows, sources, indices)

    def remaining_batches(self, start: int) -> int:
        epoch_samples = self.batches_per_epoch * self.samples_per_step
        epoch_end = (start // epoch_samples + 1) * epoch_samples
        return math.ceil((epoch_end - start) / self.samples_per_step)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        start = self.start  # a snapshot: the data module may move `self.start` while we run
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        total = self.remaining_batches(start)
        for n in range(worker_id, total, num_workers):
            yield self.batch(n, start)
        if worker is None:
            # Main-process iteration continues with the next epoch next time. Worker copies
            # are discarded; there the data module advances `start` as batches are consumed.
            self.start = max(self.start, start + total * self.samples_per_step)


class StreamLoader(DataLoader):
    """A DataLoader of :class:`MixtureStream` batches that Lightning recognizes as resumable.

    Its state is the stream's ``start``, which the data module keeps equal to the samples
    consumed by training steps. The data module's own ``state_dict`` is what resumes the
    stream; this one makes Lightning's fit loop store and restore the same number for
    mid-epoch checkpoints (and not warn that the loader cannot resume).
    """

    def __init__(self, dataset: MixtureStream, num_workers: int = 0, **kwargs) -> None:
        kwargs.pop("batch_size", None)  # the stream yields whole batches
        super().__init__(dataset, batch_size=None, num_workers=num_workers, **kwargs)

    def state_dict(self) -> dict[str, int]:
        return {"consumed_samples": self.dataset.start}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.dataset.start = int(state_dict["consumed_samples"])


class HeldOutRows(Dataset):
    """Every packed row of the held-out documents of each source, in a fixed order."""

    def __init__(self, sources: Sequence[MixtureSource], eos_id: int, pad_id: int) -> None:
        self.sources = list(sources)
        self.eos_id, self.pad_id = eos_id, pad_id
        self.index = [(s, r) for s, src in enumerate(self.sources) for r in range(src.plan.num_rows)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        source, row = self.index[i]
        src = self.sources[source]
        return source, build_row(src.plan, row, src.docs, self.eos_id, self.pad_id)

    @staticmethod
    def collate(items: Sequence[tuple[int, tuple]]) -> dict[str, torch.Tensor]:
        sources, rows = zip(*items)
        return collate_rows(rows, sources)
