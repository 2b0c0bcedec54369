"""Tokenized documents of one source, in memory (tiny runs) or memory-mapped from shards.

Both stores answer the questions the packer asks: how long is each document
(``lengths``), what are its tokens (``tokens(d)``) and, for chat (SFT) sources, which of
them are trained (``loss_mask(d)``: 1 on the completion, 0 on the prompt; None for text
sources, where every token is). Documents are numbered in source order, shard after shard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from mist_pl.data.shards import map_loss_mask, map_shard


def _flatten(arrays: Sequence[Sequence[int]], dtype) -> np.ndarray:
    parts = [np.asarray(a, dtype=dtype) for a in arrays]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class MemoryDocs:
    """Documents held as one flat token array plus offsets (and an aligned flat loss mask)."""

    def __init__(self, token_lists: Sequence[Sequence[int]], loss_masks: Optional[Sequence[Sequence[int]]] = None) -> None:
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        self.offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.values = _flatten(token_lists, np.int32)
        self.lengths = lengths
        self.masks = None if loss_masks is None else _flatten(loss_masks, np.uint8)
        if self.masks is not None and len(self.masks) != len(self.values):
            raise ValueError(f"{len(self.masks)} loss-mask values for {len(self.values)} tokens")

    def __len__(self) -> int:
        return len(self.lengths)

    def tokens(self, doc: int) -> np.ndarray:
        return self.values[self.offsets[doc] : self.offsets[doc + 1]]

    def loss_mask(self, doc: int) -> Optional[np.ndarray]:
        if self.masks is None:
            return None
        return self.masks[self.offsets[doc] : self.offsets[doc + 1]]


class ShardError(ValueError):
    """A shard that cannot be what ``prepare`` wrote: not an Arrow file of the shard schema,
    or token ids the tokenizer cannot have produced. The message starts with its path."""


class ShardDocs:
    """Documents of a list of Arrow shards, memory-mapped on first use.

    Pickling keeps only the paths and lengths, so a dataloader worker (forked or spawned)
    maps the files itself instead of receiving a copy of the corpus.

    With ``vocab_size``, every token id must lie in ``[0, vocab_size)``: an id beyond the
    embedding table fails deep in the model with an index error naming no file (or, on
    some kernels, reads another row silently), so it is refused here with the shard's path.
    """

    def __init__(self, paths: Sequence[Path], vocab_size: Optional[int] = None) -> None:
        self.paths = [Path(p) for p in paths]
        self._segments: list[tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]] | None = None
        counts, lengths = [], []
        for path, (values, offsets, masks) in zip(self.paths, self._open()):
            if masks is not None and len(masks) != len(values):
                raise ShardError(f"{path}: loss_mask has {len(masks)} values for {len(values)} tokens")
            if vocab_size is not None and len(values):
                low, high = int(values.min()), int(values.max())
                if low < 0 or high >= vocab_size:
                    raise ShardError(f"{path}: token id {high if high >= vocab_size else low} is outside the "
                                     f"tokenizer's vocabulary of {vocab_size} ids")
            counts.append(len(offsets) - 1)
            lengths.append(np.diff(offsets))
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self._first_doc = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _open(self) -> list[tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]:
        if self._segments is None:
            segments = []
            for path in self.paths:
                try:
                    segments.append((*map_shard(path), map_loss_mask(path)))
                except (pa.ArrowException, KeyError) as err:  # not Arrow, or no input_ids column
                    raise ShardError(f"{path}: not a readable shard ({type(err).__name__}: {err})") from err
            self._segments = segments
        return self._segments

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_segments"] = None
        return state

    def __len__(self) -> int:
        return len(self.lengths)

    def _locate(self, doc: int) -> tuple[tuple[np.ndarray, np.ndarray, Optional[np.ndarray]], int]:
        shard = int(np.searchsorted(self._first_doc, doc, side="right")) - 1
        return self._open()[shard], doc - int(self._first_doc[shard])

    def tokens(self, doc: int) -> np.ndarray:
        (values, offsets, _), local = self._locate(doc)
        return values[offsets[local] : offsets[local + 1]]

    def loss_mask(self, doc: int) -> Optional[np.ndarray]:
        (_, offsets, masks), local = self._locate(doc)
        return None if masks is None else masks[offsets[local] : offsets[local + 1]]
