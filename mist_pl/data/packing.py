"""Packing documents (CPT) and chat examples (SFT) into fixed-length rows.

Each document becomes a *unit*: its tokens followed by one EOS. Units are packed into
rows of exactly ``seq_len`` tokens by best-fit decreasing (a unit goes into the fullest
row it still fits in). A unit longer than ``seq_len`` is cut into ``seq_len`` pieces
plus a remainder; every other unit stays whole inside one row, so a SMILES or CIF is
never cut in half. The rest of a row is padding: a few percent for documents much
shorter than ``seq_len``, but up to ~40% when most documents are just over half of it
(then raise ``seq_len``, or pack with ``split_documents=True``: GPT-style
concatenate-and-cut, no padding, documents may continue in the next row).

The row contract (one row of the batch; the batch stacks rows):

- ``input_ids``: tokens; padding is ``pad_token_id``.
- ``position_ids``: restart at 0 at the first token of every piece (and of the padding),
  so rotary positions are those the document would have alone. Transformers 5 turns
  such position ids into a block-diagonal causal mask (sdpa, eager; flash-attention reads
  them as varlen boundaries) *only when no attention_mask is passed and no KV cache is in
  use*: call the model with ``use_cache=False`` when training, or its default cache
  silently disables the block mask and documents attend to each other (observed with
  transformers 5.x; the ``use_cache=False`` path is checked in tests/data/test_packing.py). No ``attention_mask`` is produced on purpose.
- ``labels``: Hugging Face convention, not shifted: ``labels == input_ids`` where the
  token is a training target, ``-100`` elsewhere. The model predicts ``labels[:, t]``
  from ``logits[:, t-1]`` (HF models shift internally), so the first token of every
  piece gets ``-100`` (predicting it would cross a document boundary: its context is the
  previous document's EOS), and so does padding. The EOS closing a document is a
  target: the model learns where documents end.

Chat (SFT) examples differ in two ways. Their documents carry a loss mask
(``docs.loss_mask(d)``, see :mod:`mist_pl.data.docstore`) and a label is kept only where
the mask is 1, so the prompt is never trained (on top of the rules above). And they get
no EOS (``plan_rows(..., append_eos=False)``): the chat template's end-of-turn, part of
the masked-in completion, already closes the example. Overlong examples are cut or
dropped before planning (:mod:`mist_pl.data.overlong`), so a chat example always sits
whole in one row, prompt included.

``pack=False`` puts every piece in a row of its own (one example per row, padded): the
plain SFT layout, for comparison or for models without packed attention.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np
import torch

from mist_pl.data.docstore import MemoryDocs

IGNORE_INDEX = -100


class Documents(Protocol):
    lengths: np.ndarray

    def tokens(self, doc: int) -> np.ndarray: ...

    def loss_mask(self, doc: int) -> Optional[np.ndarray]: ...


@dataclass(frozen=True)
class PackPlan:
    """Which pieces of which documents fill each row.

    Row ``r`` holds pieces ``row_offsets[r]:row_offsets[r+1]``; a piece covers positions
    ``[piece_start, piece_start + piece_len)`` of its document's unit (tokens + EOS).
    """

    seq_len: int
    row_offsets: np.ndarray
    piece_doc: np.ndarray
    piece_start: np.ndarray
    piece_len: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.row_offsets) - 1

    def row_tokens(self) -> np.ndarray:
        """Non-padding tokens of each row."""
        sums = np.add.reduceat(self.piece_len, self.row_offsets[:-1]) if len(self.piece_len) else np.zeros(0)
        return sums.astype(np.int64)

    @property
    def efficiency(self) -> float:
        """Fraction of row positions holding real tokens (1.0 = no padding)."""
        if self.num_rows == 0:
            return 0.0
        return float(self.piece_len.sum()) / (self.num_rows * self.seq_len)


def plan_rows(
    doc_ids: np.ndarray,
    lengths: np.ndarray,
    seq_len: int,
    split_documents: bool = False,
    append_eos: bool = True,
    pack: bool = True,
) -> PackPlan:
    """Pack documents ``doc_ids`` (token counts ``lengths[doc]``, EOS not included) into rows.

    Best-fit decreasing keeps documents whole (see the module docstring). With
    ``split_documents`` the units are instead concatenated in order and cut every
    ``seq_len`` tokens (GPT-style): no padding except in the last row, but documents
    that cross a row boundary continue, without their beginning, in the next row.
    ``append_eos=False`` makes a unit the document alone (chat examples end in their
    template's end-of-turn); ``pack=False`` gives every piece its own row, in order.

    Deterministic: ties in length keep the order of ``doc_ids``, so a caller that shuffles
    ``doc_ids`` with a seed gets a seeded, reproducible plan.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    if split_documents and not pack:
        raise ValueError("split_documents packs by definition: it cannot be combined with pack=False")
    doc_ids = np.asarray(doc_ids, dtype=np.int64)
    units = np.asarray(lengths, dtype=np.int64)[doc_ids] + int(append_eos)
    if split_documents:
        return _plan_concatenated(doc_ids, units, seq_len)
    # Cut units into pieces of at most seq_len tokens.
    counts = -(-units // seq_len)
    piece_doc = np.repeat(doc_ids, counts)
    first_piece = np.repeat(np.cumsum(counts) - counts, counts)
    piece_start = (np.arange(len(piece_doc)) - first_piece) * seq_len
    piece_len = np.minimum(seq_len, np.repeat(units, counts) - piece_start)
    if not pack:
        return PackPlan(seq_len, np.arange(len(piece_doc) + 1, dtype=np.int64), piece_doc, piece_start, piece_len)

    rows: list[list[int]] = [[p] for p in np.flatnonzero(piece_len == seq_len)]
    partial = np.flatnonzero(piece_len < seq_len)
    partial = partial[np.argsort(-piece_len[partial], kind="stable")]
    free_sizes: list[int] = []  # sorted distinct free sizes of open rows
    open_rows: dict[int, list[int]] = {}  # free size -> rows with that much room
    for piece in partial.tolist():
        size = int(piece_len[piece])
        slot = bisect_left(free_sizes, size)
        if slot == len(free_sizes):
            row, free = len(rows), seq_len - size
            rows.append([piece])
        else:
            room = free_sizes[slot]
            row = open_rows[room].pop()
            if not open_rows[room]:
                del open_rows[room]
                free_sizes.pop(slot)
            rows[row].append(piece)
            free = room - size
        if free > 0:
            if free not in open_rows:
                open_rows[free] = []
                insort(free_sizes, free)
            open_rows[free].append(row)

    order = np.fromiter((p for row in rows for p in row), dtype=np.int64, count=len(piece_doc))
    row_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=row_offsets[1:])
    return PackPlan(
        seq_len=seq_len,
        row_offsets=row_offsets,
        piece_doc=piece_doc[order],
        piece_start=piece_start[order].astype(np.int64),
        piece_len=piece_len[order].astype(np.int64),
    )


def _plan_concatenated(doc_ids: np.ndarray, units: np.ndarray, seq_len: int) -> PackPlan:
    ends = np.cumsum(units)
    starts = ends - units
    total = int(ends[-1]) if len(ends) else 0
    num_rows = -(-total // seq_len)
    # Pieces start at every unit start and every row start.
    bounds = np.union1d(starts, np.arange(num_rows, dtype=np.int64) * seq_len)
    unit = np.searchsorted(ends, bounds, side="right")
    row_of_piece = bounds // seq_len
    return PackPlan(
        seq_len=seq_len,
        row_offsets=np.searchsorted(row_of_piece, np.arange(num_rows + 1)).astype(np.int64),
        piece_doc=doc_ids[unit],
        piece_start=(bounds - starts[unit]).astype(np.int64),
        piece_len=(np.append(bounds[1:], total) - bounds).astype(np.int64),
    )


def build_row(
    plan: PackPlan, row: int, docs: Documents, eos_id: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input_ids, labels, position_ids)`` of one planned row, each ``[seq_len]`` int64."""
    seq_len = plan.seq_len
    input_ids = np.full(seq_len, pad_id, dtype=np.int64)
    labels = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
    position_ids = np.empty(seq_len, dtype=np.int64)
    cursor = 0
    for piece in range(plan.row_offsets[row], plan.row_offsets[row + 1]):
        doc = int(plan.piece_doc[piece])
        start, size = int(plan.piece_start[piece]), int(plan.piece_len[piece])
        tokens = docs.tokens(doc)[start : start + size]
        end = cursor + size
        input_ids[cursor : cursor + len(tokens)] = tokens
        if len(tokens) < size:  # the piece reaches the end of its unit: the EOS
            input_ids[end - 1] = eos_id
        labels[cursor + 1 : end] = input_ids[cursor + 1 : end]
        mask = _loss_mask(docs, doc)
        if mask is not None:  # chat example: untrain the prompt (an EOS, if any, stays a target)
            untrained = mask[start + 1 : start + len(tokens)] == 0
            labels[cursor + 1 : cursor + len(tokens)][untrained] = IGNORE_INDEX
        position_ids[cursor:end] = np.arange(size)
        cursor = end
    # Padding forms its own position block so it never joins a document's attention block.
    position_ids[cursor:] = np.arange(seq_len - cursor)
    return input_ids, labels, position_ids


def _loss_mask(docs: Documents, doc: int) -> Optional[np.ndarray]:
    # Stores written before loss masks existed (or user stores) may lack the method.
    loss_mask = getattr(docs, "loss_mask", None)
    return None if loss_mask is None else loss_mask(doc)


def collate_rows(
    rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    source_ids: Sequence[int],
    sample_index: Optional[Sequence[int]] = None,
) -> dict[str, torch.Tensor]:
    """Stack rows into the CPT batch: ``input_ids``, ``labels``, ``position_ids`` ``[B, T]``;
    ``source_ids`` ``[B]`` (every row comes from one source); ``sample_index`` ``[B]``."""
    batch = {
        "input_ids": torch.from_numpy(np.stack([r[0] for r in rows])),
        "labels": torch.from_numpy(np.stack([r[1] for r in rows])),
        "position_ids": torch.from_numpy(np.stack([r[2] for r in rows])),
        "source_ids": torch.tensor(list(source_ids), dtype=torch.long),
    }
    if sample_index is not None:
        batch["sample_index"] = torch.tensor(list(sample_index), dtype=torch.long)
    return batch


def pack_documents(
    token_lists: Sequence[Sequence[int]],
    seq_len: int,
    eos_id: int,
    pad_id: int,
    source_id: int = 0,
    split_documents: bool = False,
    loss_masks: Optional[Sequence[Sequence[int]]] = None,
    pack: bool = True,
) -> tuple[dict[str, torch.Tensor], PackPlan]:
    """Pack a list of tokenized documents into one batch (all rows); returns ``(batch, plan)``.

    With ``loss_masks`` the documents are chat examples: no EOS is appended and labels
    follow the masks (each example must fit ``seq_len``; see :mod:`mist_pl.data.overlong`)."""
    docs = MemoryDocs(token_lists, loss_masks)
    append_eos = loss_masks is None
    plan = plan_rows(np.arange(len(docs)), docs.lengths, seq_len, split_documents, append_eos, pack)
    rows = [build_row(plan, r, docs, eos_id, pad_id) for r in range(plan.num_rows)]
    return collate_rows(rows, [source_id] * len(rows)), plan
