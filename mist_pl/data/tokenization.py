"""How the data pipeline tokenizes: its tokenizer, the fingerprint that ties shards to it,
and SFT examples through the chat template with the loss on the completion only.

Shards store token ids, so training from shards made by another tokenizer would be
silent garbage. ``prepare`` writes :func:`tokenizer_fingerprint` into the manifest and
the data module refuses shards whose fingerprint differs from its tokenizer's.

An SFT example (prompt, completion) becomes chat tokens with :func:`encode_chat`. It works
with any tokenizer that has a chat template (the built-in ChatML one, Qwen2.5's,
SmolLM2's): the prompt is rendered with ``add_generation_prompt=True`` and must be a
prefix of the rendered conversation; every token of that prefix gets label -100.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Union

from transformers import PreTrainedTokenizerBase

from mist_pl.models.chat import apply_chat_template
from mist_pl.models.tokenizer import load_tokenizer

IGNORE_INDEX = -100


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


# -- SFT examples ---------------------------------------------------------------------

class ChatTemplateError(ValueError):
    """The tokenizer's chat template does not render the prompt as a prefix of the chat."""


@dataclass
class EncodedChat:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def loss_mask(self) -> list[int]:
        """1 where the token is trained (the completion and its end-of-turn), 0 on the prompt."""
        return [int(label != IGNORE_INDEX) for label in self.labels]


def encode_chat(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    completion: str,
    system: str | None = None,
    max_length: int | None = None,
) -> EncodedChat | None:
    """Tokenize one SFT example; None when the prompt alone does not fit ``max_length``.

    A completion that overflows ``max_length`` is cut at the end (the prompt is kept whole
    so the model never learns from a question it cannot see) and marked ``truncated``.
    """
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    prompt_ids = _render(tokenizer, messages, add_generation_prompt=True)
    full_ids = _render(tokenizer, messages + [{"role": "assistant", "content": completion}])
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ChatTemplateError(
            f"chat template of {tokenizer.name_or_path!r} does not render the prompt as a prefix "
            "of the full conversation; completion-only labels cannot be placed"
        )
    labels = [IGNORE_INDEX] * len(prompt_ids) + full_ids[len(prompt_ids):]
    truncated = False
    if max_length is not None and len(full_ids) > max_length:
        if len(prompt_ids) >= max_length:
            return None
        full_ids, labels, truncated = full_ids[:max_length], labels[:max_length], True
    return EncodedChat(full_ids, labels, truncated)


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    out = apply_chat_template(tokenizer, messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                              return_dict=True)
    return list(out["input_ids"])
