"""The scoring core: the token log-probs of a target span given a prefix, averaged and summed.

Every log-prob diagnostic (SCS, CCS, LS_d) reduces to this: teacher-force
``prefix + target`` and average (``mean_logprob``; SCS, CCS) or add up (``sum_logprob``,
the log-probability of the whole span; LS_d) ``log p(token | everything before it)`` over
the target's tokens only.

Definitions, so numbers are comparable between runs:

* The prefix and the target are tokenized **separately** (``add_special_tokens=False``)
  and concatenated. The diagnostics' templates put the boundary right after an added
  tag (``[START_SMILES]``, ``<answer>``) or before a space-led word, where joint and
  separate tokenization agree; the target's tokens are then exactly the ones scored.
* An empty prefix gets the tokenizer's BOS (else EOS) token, so the first target token
  has something to be predicted from.
* Batches are right-padded with an attention mask, so positions are 0..L-1 for every
  row without passing ``position_ids``; this works with the eager, SDPA and
  flash-attention backends alike. Items that share their prefix (candidate answers to one
  question) run it once instead, left-padded with explicit positions (``share_prefixes``). Every rank cuts the same items into the same
  fixed-size batches, so under FSDP all ranks run the same number of forward calls.
* Items longer than the context (``config.max_position_embeddings``, or ``max_length``
  when smaller) are skipped with status ``too_long``; an empty target gives
  ``empty_target``; a non-finite log-prob gives ``non_finite``. None of them raises and
  none yields a NaN score: the score is ``None`` and the status says why.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.models.chat import left_pad
from mist_pl.models.factory import context_limit
from mist_pl.rl.forward import continuation_logits

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


def _can_share_prefixes(model: torch.nn.Module) -> bool:
    """A Hugging Face causal LM that takes explicit positions and a KV cache (anything else
    is scored one full sequence per item)."""
    parameters = inspect.signature(model.forward).parameters
    has_cache = "cache" in parameters or "past_key_values" in parameters
    return getattr(model, "config", None) is not None and "position_ids" in parameters and has_cache


@torch.no_grad()
def score_items(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[ScoringItem],
    batch_size: int = 16,
    max_length: int | None = None,
    share_prefixes: bool = True,
) -> list[SpanScore]:
    """Mean and summed token log-prob of each item's target given its prefix (one score
    per item, in the order given). The model is put in eval mode and restored afterwards.

    ``share_prefixes``: items with the same prefix (a question and its candidate answers)
    run the prefix once and its keys/values serve every candidate
    (:func:`mist_pl.rl.forward.continuation_logits`); for LS_d's five answers after a
    300-token prompt that is about a fifth of the compute. Scores equal the unshared ones
    up to float rounding."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be at least 1")
    limit = context_limit(model, max_length=max_length)
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

    sharing = share_prefixes and _can_share_prefixes(model)
    was_training = model.training
    model.eval()
    try:
        for batch in _batches(runnable, batch_size, sharing):
            shared = sharing and len({tuple(ids[:p]) for _, ids, p in batch}) < len(batch)
            scored = _score_batch_shared(model, tokenizer, batch) if shared else _score_batch(model, tokenizer, batch)
            for (index, _, _), score in zip(batch, scored):
                results[index] = score
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


def _batches(runnable: list[tuple[int, list[int], int]], batch_size: int, by_prefix: bool):
    """Batches of at most ``batch_size`` items. Longest first: similar lengths share a batch
    (little padding), and an out-of-memory error shows up on the first batch rather than
    after minutes of work. ``by_prefix`` keeps items with the same prefix together (longest
    prefix first), so each batch runs few distinct prefixes."""
    if by_prefix:
        runnable = sorted(runnable, key=lambda r: (-r[2], r[1][: r[2]], -len(r[1])))
    else:
        runnable = sorted(runnable, key=lambda r: -len(r[1]))
    for start in range(0, len(runnable), batch_size):
        yield runnable[start : start + batch_size]


def _span_score(values: torch.Tensor, n_target: int, n_tokens: int) -> SpanScore:
    if not torch.isfinite(values).all():
        return SpanScore(None, None, n_target, n_tokens, NON_FINITE)
    total = float(values.double().sum())
    return SpanScore(total / n_target, total, n_target, n_tokens, OK)


def _score_batch_shared(model, tokenizer, batch: list[tuple[int, list[int], int]]) -> list[SpanScore]:
    """Like :func:`_score_batch`, with each distinct prefix run once (left-padded) and the
    targets (right-padded) continuing from its cached keys/values."""
    device = _model_device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prefixes = [tuple(ids[:p]) for _, ids, p in batch]
    group_of = {prefix: g for g, prefix in enumerate(dict.fromkeys(prefixes))}
    targets = [ids[p:] for _, ids, p in batch]
    t_width = max(map(len, targets))
    prompt_ids, prompt_mask = left_pad(prefixes, pad)
    target_ids = torch.full((len(batch), t_width), pad, dtype=torch.long)
    target_mask = torch.zeros((len(batch), t_width), dtype=torch.long)
    for row, target in enumerate(targets):
        target_ids[row, : len(target)] = torch.tensor(target)
        target_mask[row, : len(target)] = 1
    group = torch.tensor([group_of[prefix] for prefix in prefixes])
    logits = continuation_logits(model, prompt_ids.to(device), prompt_mask.to(device), target_ids.to(device),
                                 target_mask.to(device), group.to(device))
    token_lp = logits.float().log_softmax(-1).gather(-1, target_ids.to(device).unsqueeze(-1)).squeeze(-1).cpu()
    return [_span_score(token_lp[row, : len(target)], len(target), len(ids))
            for row, ((_, ids, _), target) in enumerate(zip(batch, targets))]


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
        scores.append(_span_score(token_lp[row, lo : lo + len(ids) - prefix_len], len(ids) - prefix_len, len(ids)))
    return scores
