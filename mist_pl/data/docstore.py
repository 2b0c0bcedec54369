"""Tokenized documents of one source, in memory (tiny runs) or memory-mapped from shards.

Both stores answer the two questions the packer asks: how long is each document
(``lengths``) and what are its tokens (``tokens(d)``). Documents are numbered in source
order, shard after shard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mist_pl.data.shards import map_shard


class MemoryDocs:
    """Documents held as one flat token array plus offsets."""

    def __init__(self, token_lists: Sequence[Sequence[int]]) -> None:
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        self.offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        arrays = [np.asarray(tokens, dtype=np.int32) for tokens in token_lists]
        self.values = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def tokens(self, doc: int) -> np.ndarray:
        return self.values[self.offsets[doc] : self.offsets[doc + 1]]


class ShardDocs:
    """Documents of a list of Arrow shards, memory-mapped on first use.

    Pickling keeps only the paths and lengths, so a dataloader worker (forked or spawned)
    maps the files itself instead of receiving a copy of the corpus.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._segments: list[tuple[np.ndarray, np.ndarray]] | None = None
        counts, lengths = [], []
        for _, offsets in self._open():
            counts.append(len(offsets) - 1)
            lengths.append(np.diff(offsets))
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self._first_doc = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _open(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if self._segments is None:
            self._segments = [map_shard(p) for p in self.paths]
        return self._segments

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_segments"] = None
        return state

    def __len__(self) -> int:
        return len(self.lengths)

    def tokens(self, doc: int) -> np.ndarray:
        shard = int(np.searchsorted(self._first_doc, doc, side="right")) - 1
        values, offsets = self._open()[shard]
        local = doc - int(self._first_doc[shard])
        return values[offsets[local] : offsets[local + 1]]
