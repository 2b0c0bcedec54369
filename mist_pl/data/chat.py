"""Supervised fine-tuning examples: (prompt, completion) -> chat tokens with loss on the
completion only.

Works with any tokenizer that has a chat template (the built-in ChatML one, Qwen2.5's,
SmolLM2's): the prompt is rendered with ``add_generation_prompt=True`` and must be a
prefix of the rendered conversation; every token of that prefix gets label -100.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


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
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True
    )
    return list(out["input_ids"])
