"""Start-up checks where the model and the data meet, run in ``LMModule.setup``.

They read what the data module states about itself (:class:`~mist_pl.data.contract.DataFacts`),
never its attributes.

Each one turns a failure that would otherwise surface minutes later (an index error deep
in RoPE, a run that repeats the same three rows forever) into an error that names the
settings to change. The QLoRA check is :func:`mist_pl.models.lora.check_qlora` (also run
when the model is built).
"""

from __future__ import annotations

from mist_pl.data.contract import DataFacts
from mist_pl.data.tokenization import tokenizer_fingerprint
from mist_pl.models.factory import ModelConfig, context_limit


class DataModelMismatchError(ValueError):
    """The data module's settings do not fit the model or the trainer."""


def check_seq_len(facts: DataFacts, lm: ModelConfig, model=None) -> None:
    """``data.seq_len`` must not exceed the model's ``max_position_embeddings``."""
    if facts.seq_len is None:
        return
    limit = context_limit(model, lm)
    if limit is not None and facts.seq_len > limit:
        raise DataModelMismatchError(
            f"data.seq_len={facts.seq_len} is longer than the model's max_position_embeddings={limit} "
            f"(lm.name_or_path={lm.name_or_path!r}): lower data.seq_len or use a model with a longer context"
        )


def check_data_size(facts: DataFacts, data_parallel_size: int) -> None:
    """The training data must fill at least one global batch; fewer distinct tokens (or
    examples) means every step trains on the same few rows, which is never intended.
    Counted in tokens when the data say how many they hold and rows have a fixed
    ``seq_len``, else in examples; data that count neither are not checked."""
    batch_size = facts.batch_size
    if facts.train_tokens is not None and facts.seq_len is not None:
        needed = facts.seq_len * batch_size * data_parallel_size
        if facts.train_tokens < needed:
            raise DataModelMismatchError(
                f"the training data holds {facts.train_tokens} tokens, fewer than one global batch of "
                f"data.seq_len={facts.seq_len} x data.batch_size={batch_size} x {data_parallel_size} "
                f"data-parallel rank(s) = {needed} tokens: add data, or lower seq_len / batch_size"
            )
        return
    if facts.train_examples is not None:
        needed = batch_size * data_parallel_size
        if facts.train_examples == 0 or facts.train_examples < needed:
            raise DataModelMismatchError(
                f"the training set has {facts.train_examples} examples, fewer than one global batch of "
                f"data.batch_size={batch_size} x {data_parallel_size} data-parallel rank(s) = {needed}"
            )


def check_rollout_len(max_prompt_tokens: int | None, max_new_tokens: int, lm: ModelConfig, model=None) -> None:
    """A GRPO rollout is a prompt plus its completion: the longest allowed prompt
    (``data.max_prompt_tokens``) plus ``sampling.max_new_tokens`` must fit the model's
    context, or the first long prompt fails mid-generation, minutes into the run."""
    if not isinstance(max_prompt_tokens, int):
        return
    limit = context_limit(model, lm)
    if limit is not None and max_prompt_tokens + max_new_tokens > limit:
        raise DataModelMismatchError(
            f"data.max_prompt_tokens={max_prompt_tokens} + sampling.max_new_tokens={max_new_tokens} = "
            f"{max_prompt_tokens + max_new_tokens} is longer than the model's max_position_embeddings={limit} "
            f"(lm.name_or_path={lm.name_or_path!r}): lower one of them"
        )


def check_tokenizer(facts: DataFacts, tokenizer, lm: ModelConfig) -> None:
    """The data must be tokenized with the model's own vocabulary: ids from another one
    train the model on noise, and nothing else fails (the loss just sits near ln(vocab))."""
    data_tokenizer = facts.tokenizer
    if data_tokenizer is None or data_tokenizer is tokenizer or tokenizer is None:
        return  # the default: the data module took the model's own tokenizer
    data_fp, model_fp = tokenizer_fingerprint(data_tokenizer), tokenizer_fingerprint(tokenizer)
    if data_fp != model_fp:
        raise DataModelMismatchError(
            f"data.tokenizer ({type(data_tokenizer).__name__}, {data_fp['vocab_size']} tokens, "
            f"sha256 {data_fp['sha256']}) is not the tokenizer of lm.name_or_path={lm.name_or_path!r} "
            f"({model_fp['vocab_size']} tokens, sha256 {model_fp['sha256']}): leave data.tokenizer unset "
            "to use the model's"
        )
