"""Start-up checks where the model and the data meet, run in ``LMModule.setup``.

Each one turns a failure that would otherwise surface minutes later (an index error deep
in RoPE, a run that repeats the same three rows forever) into an error that names the
settings to change. The QLoRA check is :func:`mist_pl.models.lora.check_qlora` (also run
when the model is built).
"""

from __future__ import annotations

from mist_pl.models.factory import ModelConfig, context_limit

# How data modules name their sequence length (MixtureDataModule: seq_len).
SEQ_LEN_ATTRS = ("seq_len", "max_length", "max_seq_len")


class DataModelMismatchError(ValueError):
    """The data module's settings do not fit the model or the trainer."""


def data_seq_len(datamodule) -> tuple[str, int] | None:
    for name in SEQ_LEN_ATTRS:
        value = getattr(datamodule, name, None)
        if isinstance(value, int):
            return name, value
    return None


def check_seq_len(datamodule, lm: ModelConfig, model=None) -> None:
    """``data.seq_len`` must not exceed the model's ``max_position_embeddings``."""
    found = data_seq_len(datamodule)
    if found is None:
        return
    name, seq_len = found
    limit = context_limit(model, lm)
    if limit is not None and seq_len > limit:
        raise DataModelMismatchError(
            f"data.{name}={seq_len} is longer than the model's max_position_embeddings={limit} "
            f"(lm.name_or_path={lm.name_or_path!r}): lower data.{name} or use a model with a longer context"
        )


def check_data_size(datamodule, data_parallel_size: int) -> None:
    """The training data must fill at least one global batch; fewer distinct tokens (or
    examples) means every step trains on the same few rows, which is never intended."""
    batch_size = getattr(datamodule, "batch_size", None)
    if not isinstance(batch_size, int):
        return
    stats = getattr(datamodule, "source_stats", None)  # MixtureDataModule: tokens per source
    found = data_seq_len(datamodule)
    if stats and found is not None:
        tokens = sum(int(getattr(s, "tokens", 0)) for s in stats.values())
        needed = found[1] * batch_size * data_parallel_size
        if tokens < needed:
            raise DataModelMismatchError(
                f"the training data holds {tokens} tokens, fewer than one global batch of "
                f"data.{found[0]}={found[1]} x data.batch_size={batch_size} x {data_parallel_size} "
                f"data-parallel rank(s) = {needed} tokens: add data, or lower seq_len / batch_size"
            )
        return
    dataset = getattr(datamodule, "train_dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        needed = batch_size * data_parallel_size
        if len(dataset) == 0 or len(dataset) < needed:
            raise DataModelMismatchError(
                f"the training set has {len(dataset)} examples, fewer than one global batch of "
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


def check_tokenizer(datamodule, tokenizer, lm: ModelConfig) -> None:
    """The data must be tokenized with the model's own vocabulary: ids from another one
    train the model on noise, and nothing else fails (the loss just sits near ln(vocab))."""
    data_tokenizer = getattr(datamodule, "tokenizer", None)
    if data_tokenizer is None or data_tokenizer is tokenizer or isinstance(data_tokenizer, str) or tokenizer is None:
        return  # the default: the data module took the model's own tokenizer
    from mist_pl.data.tokenization import tokenizer_fingerprint

    data_fp, model_fp = tokenizer_fingerprint(data_tokenizer), tokenizer_fingerprint(tokenizer)
    if data_fp != model_fp:
        raise DataModelMismatchError(
            f"data.tokenizer ({type(data_tokenizer).__name__}, {data_fp['vocab_size']} tokens, "
            f"sha256 {data_fp['sha256']}) is not the tokenizer of lm.name_or_path={lm.name_or_path!r} "
            f"({model_fp['vocab_size']} tokens, sha256 {model_fp['sha256']}): leave data.tokenizer unset "
            "to use the model's"
        )
