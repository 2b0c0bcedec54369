"""The tokenizer the data pipeline uses, and a fingerprint that ties shards to it.

Shards store token ids, so training from shards made by another tokenizer would be
silent garbage. ``prepare`` writes :func:`tokenizer_fingerprint` into the manifest and
the data module refuses shards whose fingerprint differs from its tokenizer's.
"""

from __future__ import annotations

import hashlib
from typing import Any, Union

from transformers import PreTrainedTokenizerBase

from mist_pl.models.tokenizer import load_tokenizer


def resolve_tokenizer(tokenizer: Union[str, PreTrainedTokenizerBase, None], where: str = "tokenizer"):
    """A tokenizer object from a built-in name (``mist-chem``), a local folder, or an object."""
    if tokenizer is None:
        raise ValueError(f"{where}: no tokenizer given (set it in the mixture file or the data module)")
    if isinstance(tokenizer, str):
        tokenizer = load_tokenizer(tokenizer)
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise ValueError(f"{where}: the tokenizer needs eos_token and pad_token set")
    return tokenizer


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """Vocabulary hash plus the ids the packer relies on."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        blob = backend.to_str()
    else:  # a slow tokenizer: hash its vocabulary instead
        blob = repr(sorted(tokenizer.get_vocab().items()))
    return {
        "sha256": hashlib.sha256(blob.encode()).hexdigest()[:16],
        "vocab_size": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
    }
