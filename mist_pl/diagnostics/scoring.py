"""The scoring core: mean token log-prob of a target span given a prefix.

Every log-prob diagnostic (SCS, CCS, LS_d) reduces to this: teacher-force
``prefix + target`` and average ``log p(token | everything before it)`` over the target's
tokens only.

Definitions, so numbers are comparable between runs:

* The prefix and the target are tokenized **separately** (``add_special_tokens=False``)
  and concatenated. The diagnostics' templates put the boundary right after an added
  tag (``[START_SMILES]``, ``<answer>``) or before a space-led word, where joint and
  separate tokenization agree; the target's tokens are then exactly the ones scored.
* An empty prefix gets the tokenizer's BOS (else EOS) token, so the first target token
  has something to be predicted from.
* Batches are right-padded with an attention mask, so positions are 0..L-1 for every
  row without passing ``position_ids``; this works with the eager, SDPA and
  flash-attention backends alike. Every rank cuts the same items into the same
  fixed-size batches, so under FSDP all ranks run the same number of forward calls.
* Items longer than the context (``config.max_position_embeddings``, or ``max_length``
  when smaller) are skipped with status ``too_long``; an empty target gives
  ``empty_target``; a non-finite log-prob gives ``non_finite``. None of them raises and
  none yields a NaN score: the score is ``None`` and the status says why.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

OK = "ok"
TOO_LONG = "too_long"
EMPTY_TARGET = "empty_target"
NON_FINITE = "non_finite"
NO_PREFIX = "no_prefix"  # empty prefix and a tokenizer with neither BOS nor EOS


@dataclass(frozen=True)
class ScoringItem:
    """Score ``target`` as the continuation of ``prefix``."""

    prefix: str
    target: str


@dataclass(frozen=True)
class SpanScore:
    """The result for one item; ``mean_logprob`` is None unless ``status == "ok"``."""

    mean_logprob: float | None
    sum_logprob: float | None
    n_target_tokens: int
    n_tokens: int
    status: str

    @property
    def ok(self) -> bool:
        return self.status == OK


def context_limit(model: torch.nn.Module, max_length: int | None = None) -> int | None:
    """The longest sequence the model may score: its position limit, or ``max_length``
    when that is smaller. None when neither is known."""
    config = getattr(model, "config", None)
    limits = [getattr(config, "max_position_embeddings", None), max_length]
    limits = [int(x) for x in limits if x is not None]
    return min(limits) if limits else None


def status_counts(scores: Sequence[SpanScore]) -> dict[str, int]:
    return dict(Counter(s.status for s in scores))


def _start_token(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [] if token is None else [token]


def encode_item(tokenizer: PreTrainedTokenizerBase, item: ScoringItem) -> tuple[list[int], list[int]]:
    """(prefix ids, target ids) as scored; see the module docstring."""
    prefix = tokenizer(item.prefix, add_special_tokens=False)["input_ids"] if item.prefix else []
    target = tokenizer(item.target, add_special_tokens=False)["input_ids"] if item.target else []
    return (list(prefix) or _start_token(tokenizer)), list(target)


def _model_device(model: torch.nn.Module) -> torch.device:
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def _accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


@torch.no_grad()
def score_items(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[ScoringItem],
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[SpanScore]:
    """Mean token log-prob of each item's target given its prefix (one score per item,
    in the order given). The model is put in eval mode and restored afterwards."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be at least 1")
    limit = context_limit(model, max_length)
    results: list[SpanScore | None] = [None] * len(items)
    runnable: list[tuple[int, list[int], int]] = []  # (item index, ids, prefix length)
    for i, item in enumerate(items):
        prefix, target = encode_item(tokenizer, item)
        n = len(prefix) + len(target)
        if not target:
            results[i] = SpanScore(None, None, 0, n, EMPTY_TARGET)
        elif not prefix:
            results[i] = SpanScore(None, None, len(target), n, NO_PREFIX)
        elif limit is not None and n > limit:
            results[i] = SpanScore(None, None, len(target), n, TOO_LONG)
        else:
            runnable.append((i, prefix + target, len(prefix)))

    # Longest first: similar lengths share a batch (little padding), and an out-of-memory
    # error shows up on the first batch rather than after minutes of work.
    runnable.sort(key=lambda r: -len(r[1]))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(runnable), batch_size):
            batch = runnable[start : start + batch_size]
            for (index, ids, _), score in zip(batch, _score_batch(model, tokenizer, batch)):
                results[index] = score
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _score_batch(model, tokenizer, batch: list[tuple[int, list[int], int]]) -> list[SpanScore]:
    device = _model_device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    lengths = [len(ids) for _, ids, _ in batch]
    width = max(lengths)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (_, ids, _) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
    # Logit at position t predicts token t+1: the window covers every row's target.
    first = min(p for _, _, p in batch) - 1
    last = width - 1  # exclusive: the final position predicts nothing
    kwargs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device), "use_cache": False}
    if _accepts_logits_to_keep(model):
        # Only the target window goes through the output head: with a 150k vocabulary the
        # full [B, L, V] logits would dwarf the model's own activations.
        kwargs["logits_to_keep"] = torch.arange(first, last, device=device)
        logits = model(**kwargs).logits
    else:
        logits = model(**kwargs).logits[:, first:last]
    logprobs = logits.float().log_softmax(-1)
    targets = input_ids[:, first + 1 : last + 1].to(device)
    token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu()

    scores = []
    for row, (_, ids, prefix_len) in enumerate(batch):
        # Target token j (absolute position prefix_len + j) is predicted at window index
        # prefix_len + j - 1 - first.
        lo = prefix_len - 1 - first
        values = token_lp[row, lo : lo + len(ids) - prefix_len]
        n_target = len(ids) - prefix_len
        if not torch.isfinite(values).all():
            scores.append(SpanScore(None, None, n_target, len(ids), NON_FINITE))
            continue
        total = float(values.double().sum())
        scores.append(SpanScore(total / n_target, total, n_target, len(ids), OK))
    return scores
