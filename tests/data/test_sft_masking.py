"""Completion-only labels, token by token, through the whole path: record -> chat transform
-> chat template -> loss mask -> packed (or unpacked) row labels; overlong examples."""

from __future__ import annotations

import pytest
import torch
from sft_helpers import (
    SYSTEM,
    chat_records,
    check_chat_row,
    reference_examples,
    segments,
    sft_mixture,
)

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.packing import build_row, pack_documents
from mist_pl.data.tokenization import IGNORE_INDEX

SEQ_LEN = 256


def every_row(dm, sources):
    """All planned rows (train and held-out) of the named sources, as tensors."""
    mixture = dm._mixture
    for group in (mixture.sources, dm._val_sources):
        for src in group:
            if src.name in sources:
                for r in range(src.plan.num_rows):
                    row = build_row(src.plan, r, src.docs, mixture.eos_id, mixture.pad_id)
                    yield tuple(torch.from_numpy(a) for a in row)


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "one-per-row"])
def test_only_completion_tokens_are_labelled(tmp_path, tokenizer_dir, tokenizer, pack):
    mix = sft_mixture(tmp_path, tokenizer_dir)
    dm = MixtureDataModule(mix, seq_len=SEQ_LEN, batch_size=4, val_fraction=0.1, pack=pack)
    dm.setup("fit")
    records = chat_records(40)
    reference = reference_examples(tokenizer, records, SEQ_LEN)
    assert len(reference) == 38  # the two broken records are dropped, with their reasons
    assert dm.source_stats["pairs"].dropped == {"missing_field:reply": 1, "empty_field:question": 1}

    seen, per_row = [], []
    for ids, labels, pos in every_row(dm, {"pairs"}):
        in_row = check_chat_row(ids, labels, pos, reference, tokenizer.pad_token_id)
        seen += in_row
        per_row.append(len(in_row))
    # Every kept example is trained exactly once per pass (train and held-out together).
    assert sorted(seen) == sorted(reference)
    assert max(per_row) > 1 if pack else set(per_row) == {1}

    # Independently of encode_chat: the labelled tokens decode to the completion and its
    # end-of-turn, and the prompt (system + user turns + assistant header) to the chat header.
    ids, labels, pos = next(every_row(dm, {"pairs"}))
    start, end = segments(pos)[0]
    trained = labels[start:end] != IGNORE_INDEX
    first = int(trained.nonzero()[0])
    assert trained[first:].all()  # one contiguous completion span, to the end of the example
    prompt_text = tokenizer.decode(ids[start : start + first])
    assert prompt_text.startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nQuestion ")
    assert prompt_text.endswith("<|im_start|>assistant\n")
    completion = tokenizer.decode(ids[start + first : end])
    assert completion.startswith("<think>") and completion.endswith("</answer><|im_end|>\n")
    assert any(completion == r.get("reply", "") + "<|im_end|>\n" for r in records)

    # The loader's batches are such rows; text rows of the same mixture keep the CPT rule.
    batch = next(iter(dm.train_dataloader()))
    for row in range(len(batch["input_ids"])):
        ids, labels, pos = batch["input_ids"][row], batch["labels"][row], batch["position_ids"][row]
        if dm.source_names[batch["source_ids"][row]] == "pairs":
            check_chat_row(ids, labels, pos, reference, tokenizer.pad_token_id)
    for ids, labels, pos in every_row(dm, {"text"}):
        real = ids != tokenizer.pad_token_id
        assert torch.equal(labels != IGNORE_INDEX, real & (pos != 0))  # every token but a piece's first


def test_text_rows_do_not_change_when_a_chat_source_joins(tmp_path, tokenizer_dir):
    alone = MixtureDataModule(sft_mixture(tmp_path, tokenizer_dir), seq_len=SEQ_LEN, batch_size=4)
    mix = sft_mixture(tmp_path, tokenizer_dir)
    mix["sources"] = mix["sources"][1:]
    text_only = MixtureDataModule(mix, seq_len=SEQ_LEN, batch_size=4)
    for dm in (alone, text_only):
        dm.setup("fit")
    rows = [[tuple(a.tolist()) for row in every_row(dm, {"text"}) for a in row] for dm in (alone, text_only)]
    assert rows[0] == rows[1]


@pytest.mark.parametrize("policy", ["truncate", "drop"])
def test_overlong_examples_are_cut_like_encode_chat_or_dropped(tmp_path, tokenizer_dir, tokenizer, policy):
    mix = sft_mixture(tmp_path, tokenizer_dir, long_every=4, text_source=False, overlong=policy)
    long_prompt = {"question": "a very long question " * 60, "reply": "<think>x</think><answer>C</answer>"}
    with open(mix["sources"][0]["path"], "a") as handle:
        handle.write(__import__("json").dumps(long_prompt) + "\n")
    dm = MixtureDataModule(mix, seq_len=SEQ_LEN, batch_size=4, val_fraction=0.0)
    dm.setup("fit")
    records = chat_records(40, long_every=4)
    full = reference_examples(tokenizer, records, seq_len=10_000)
    long = [ids for ids in full if len(ids) > SEQ_LEN]
    assert len(long) == 9  # records 1, 9, 13, ..., 37 (5 has a blank prompt: dropped before)

    counts = dm.overlong_counts["pairs"]
    kept = {*full} - set(long) if policy == "drop" else set(reference_examples(tokenizer, records, SEQ_LEN))
    if policy == "truncate":
        assert counts.truncated == len(long) and counts.dropped == {"prompt_too_long": 1}
    else:
        assert counts.truncated == 0 and counts.dropped == {"too_long": len(long) + 1}
    reference = reference_examples(tokenizer, records, SEQ_LEN)
    seen = [p for row in every_row(dm, {"pairs"}) for p in check_chat_row(*row, reference, tokenizer.pad_token_id)]
    assert sorted(seen) == sorted(kept)
    if policy == "truncate":  # a cut example fills its row and still trains its completion's start
        cut = [p for p in seen if len(p) == SEQ_LEN]
        assert len(cut) == len(long) and all(IGNORE_INDEX != reference[p][-1] for p in cut)


def test_pack_documents_with_masks():
    """The packer alone: masked-out tokens lose their labels, no EOS is added, positions reset."""
    docs = [[5, 6, 7, 8], [9, 10, 11], [12, 13, 14, 15, 16]]
    masks = [[0, 0, 1, 1], [0, 1, 1], [0, 0, 0, 1, 1]]
    batch, plan = pack_documents(docs, 16, eos_id=1, pad_id=0, loss_masks=masks)
    assert plan.num_rows == 1 and batch["input_ids"][0].tolist() == [12, 13, 14, 15, 16, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0]
    assert batch["labels"][0].tolist() == [-100, -100, -100, 15, 16, -100, -100, 7, 8, -100, 10, 11] + [-100] * 4
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3]
    unpacked, plan = pack_documents(docs, 16, eos_id=1, pad_id=0, loss_masks=masks, pack=False)
    assert plan.num_rows == 3 and unpacked["labels"][0].tolist()[:4] == [-100, -100, 7, 8]
