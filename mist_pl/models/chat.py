"""Render a task prompt the one way every stage feeds it to the model.

RL prompts (:class:`mist_pl.data.prompts.PromptDataModule`), evaluation and the
latent-solvability diagnostic all call :func:`render_prompt`, so a model is measured on
exactly what it is trained on:

* one user turn (after an optional system turn) in the tokenizer's chat template, with the
  generation prompt that opens the assistant turn; a tokenizer without a template (a base
  model) gets the bare prompt and a newline;
* then ``response_prefix``: text the assistant turn starts with, already written. The task
  suite opens every answer with ``<think>`` (as the MiST reference code does), so the model
  begins inside its reasoning and half of the layout is given. Rewards and metrics judge
  ``response_prefix + generated text``.

Batches of prompts are left-padded (:func:`left_pad`), so every prompt ends where
generation starts; the RL data loader, evaluation and span scoring share that one helper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, response_prefix: str = ""
) -> str:
    """The prompt as text, ready for the model to continue with its answer."""
    if not has_chat_template(tokenizer):
        return (f"{system}\n\n" if system else "") + prompt + "\n" + response_prefix
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + response_prefix


def encode_prompt(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, response_prefix: str = ""
) -> list[int]:
    # The template already holds every control token the model needs.
    text = render_prompt(tokenizer, prompt, system, response_prefix)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> ``(input_ids, attention_mask)``, both ``[N, longest]`` int64,
    each row right-aligned with ``pad_id`` (mask 0) on its left. An empty row is all pad."""
    width = max((len(p) for p in prompts), default=0)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids, mask
