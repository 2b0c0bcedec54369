"""Small pieces shared by the SFT data tests: a chat jsonl, an inline SFT mixture, and the
reference labels a packed row must carry (computed with encode_chat alone)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mist_pl.data.tokenization import IGNORE_INDEX, encode_chat

SYSTEM = "You are a careful chemist."
MISSING_COMPLETION, EMPTY_PROMPT = 3, 5  # records with a field missing / blank


def chat_records(n: int, long_every: int = 0) -> list[dict]:
    """``n`` question/answer records of varied length; every ``long_every``-th answer is long."""
    records = []
    for i in range(n):
        words = " ".join(f"w{(i * 5 + j) % 11}" for j in range(2 + i % 7))
        answer = "C" * (1 + i % 6) + "O"
        think = f"count {words}" + (" and more reasoning" * 40 if long_every and i % long_every == 1 else "")
        records.append({"question": f"Question {i}: what follows {words}?", "reply": f"<think>{think}</think><answer>{answer}</answer>"})
    records[MISSING_COMPLETION].pop("reply")
    records[EMPTY_PROMPT]["question"] = "   "
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def sft_mixture(tmp_path: Path, tokenizer_dir: str, n: int = 40, long_every: int = 0, text_source: bool = True, **transform) -> dict:
    """A chat source (plus, by default, a plain text source to check both kinds mix)."""
    chat = write_jsonl(tmp_path / "pairs.jsonl", chat_records(n, long_every))
    sources = [{
        "name": "pairs", "format": "jsonl", "path": str(chat), "weight": 0.7,
        "transform": {"kind": "chat", "prompt_column": "question", "completion_column": "reply", "system": SYSTEM, **transform},
    }]
    if text_source:
        text = tmp_path / "text.jsonl"
        text.write_text("".join(json.dumps({"text": f"plain document {i} " + "word " * (i % 9)}) + "\n" for i in range(30)))
        sources.append({"name": "text", "format": "jsonl", "path": str(text), "weight": 0.3})
    return {"name": "sft_mix", "seed": 5, "tokenizer": tokenizer_dir, "sources": sources}


def reference_examples(tokenizer, records: list[dict], seq_len: int) -> dict[tuple, list[int]]:
    """Row segment (token ids) -> the labels encode_chat gives it, for every record that can
    be trained within ``seq_len`` (long completions cut as encode_chat(max_length=seq_len) does)."""
    reference = {}
    for record in records:
        if not record.get("reply") or not record.get("question", "").strip():
            continue
        encoded = encode_chat(tokenizer, record["question"], record["reply"], system=SYSTEM, max_length=seq_len)
        if encoded is not None:
            reference[tuple(encoded.input_ids)] = encoded.labels
    return reference


def segments(position_ids: torch.Tensor) -> list[tuple[int, int]]:
    """``(start, end)`` of the position blocks of one row (pieces and the padding block)."""
    starts = (position_ids == 0).nonzero().flatten().tolist() + [len(position_ids)]
    return list(zip(starts[:-1], starts[1:]))


def check_chat_row(ids: torch.Tensor, labels: torch.Tensor, pos: torch.Tensor, reference: dict, pad_id: int) -> list[tuple]:
    """Assert a packed row of chat examples is labelled token by token as encode_chat says:
    labels only on completion tokens, every completion token labelled except a piece's
    first (which is a prompt token anyway), nothing on padding. Returns the examples seen."""
    seen = []
    for start, end in segments(pos):
        piece = tuple(ids[start:end].tolist())
        if piece[0] == pad_id:  # the padding block
            assert (labels[start:end] == IGNORE_INDEX).all() and set(piece) == {pad_id}
            continue
        assert piece in reference, "a packed piece is not a whole (or encode_chat-truncated) example"
        expected = [IGNORE_INDEX] + reference[piece][1:]  # a piece's first token never has a label
        assert labels[start:end].tolist() == expected
        seen.append(piece)
    return seen
