"""Packing: no label crosses a document boundary, positions restart per document, nothing is lost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mist_pl.data.packing import IGNORE_INDEX, pack_documents

EOS, PAD = 1, 0


def random_docs(n: int, max_len: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(2, 50, size=int(rng.integers(1, max_len))).tolist() for _ in range(n)]


@pytest.mark.parametrize("split", [False, True], ids=["whole-docs", "split-docs"])
@pytest.mark.parametrize("seq_len, max_len", [(32, 20), (16, 40), (64, 8)])
def test_labels_never_cross_a_document_boundary(seq_len, max_len, split):
    docs = random_docs(200, max_len)
    batch, plan = pack_documents(docs, seq_len, EOS, PAD, split_documents=split)
    ids, labels, pos = batch["input_ids"], batch["labels"], batch["position_ids"]
    assert ids.shape == labels.shape == pos.shape == (plan.num_rows, seq_len)
    assert all(t.dtype == torch.long for t in batch.values())

    starts = pos == 0
    # A target exists only inside a document: the previous position is the same document.
    trained = labels != IGNORE_INDEX
    assert not trained[:, 0].any()
    assert (pos[:, 1:][trained[:, 1:]] == pos[:, :-1][trained[:, 1:]] + 1).all()
    # Every document start (and padding) is masked; every other real token is its own target.
    assert (labels[starts] == IGNORE_INDEX).all()
    assert torch.equal(labels[trained], ids[trained])
    # Positions restart at 0 and otherwise count up by one.
    steps = pos[:, 1:] - pos[:, :-1]
    assert ((steps == 1) | (pos[:, 1:] == 0)).all()

    # Non-padding count equals the plan's, and every document comes back whole, ending in EOS.
    real = trained | starts
    padding = (~trained) & (ids == PAD)
    assert plan.efficiency == pytest.approx(1 - padding.sum().item() / ids.numel(), abs=1e-9)
    assert int(plan.piece_len.sum()) == sum(len(d) + 1 for d in docs)
    pieces: dict[int, list[tuple[int, list[int]]]] = {}
    for row in range(plan.num_rows):
        cursor = 0
        for p in range(plan.row_offsets[row], plan.row_offsets[row + 1]):
            size = int(plan.piece_len[p])
            pieces.setdefault(int(plan.piece_doc[p]), []).append(
                (int(plan.piece_start[p]), ids[row, cursor : cursor + size].tolist())
            )
            cursor += size
        assert real[row, :cursor].all()
    for d, doc in enumerate(docs):
        rebuilt = [t for _, chunk in sorted(pieces[d]) for t in chunk]
        assert rebuilt == doc + [EOS]
    if split:  # concatenate-and-cut: only the last row has padding
        assert (~real[:-1]).sum() == 0
    else:  # whole documents are never split unless longer than a row
        for d, doc in enumerate(docs):
            assert len(pieces[d]) == -(-(len(doc) + 1) // seq_len)


def test_short_documents_pack_densely():
    _, plan = pack_documents(random_docs(500, 30, seed=1), 256, EOS, PAD)
    assert plan.efficiency > 0.97


def test_packed_logits_equal_each_document_alone():
    """Transformers 5 builds a block-diagonal mask from position_ids (no attention_mask, no cache)."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    docs = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 14, 15, 16, 17, 18, 19], [20]]
    batch, _ = pack_documents(docs, 24, EOS, PAD)
    config = Qwen2Config(
        vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    for implementation in ("sdpa", "eager"):
        model = AutoModelForCausalLM.from_config(config, attn_implementation=implementation).eval()
        with torch.no_grad():
            packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        ids, pos = batch["input_ids"][0], batch["position_ids"][0]
        bounds = (pos == 0).nonzero().flatten().tolist() + [len(pos)]
        assert len(bounds) - 1 == len(docs) + 1  # the documents and the padding block
        for a, b in zip(bounds[:-1], bounds[1:]):
            with torch.no_grad():
                alone = model(input_ids=ids[a:b][None], use_cache=False).logits[0]
            torch.testing.assert_close(packed[0, a:b], alone, atol=1e-5, rtol=1e-5)
