"""Render a task prompt the one way every stage feeds it to the model.

RL prompts (:class:`mist_pl.data.rl_prompts.PromptDataModule`), evaluation and the
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

A chat template is a program that comes with the model folder (Jinja, in transformers'
sandbox, which bounds each ``range`` but not loops inside loops). Every rendering goes
through :func:`apply_chat_template`, which stops a template running past
:data:`RENDER_LIMIT_S` with :class:`ChatTemplateTimeout` naming the tokenizer, instead of
hanging data loading for as long as the loops take.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

# Real templates render in well under a millisecond; this only stops runaway ones.
RENDER_LIMIT_S = 5.0
# The file name Jinja gives the Python code it compiles a template into.
TEMPLATE_CODE = "<template>"


class ChatTemplateTimeout(RuntimeError):
    """A chat template ran past :data:`RENDER_LIMIT_S` (a loop too long to be real)."""


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def apply_chat_template(tokenizer: PreTrainedTokenizerBase, messages: list[dict], **kwargs: Any) -> Any:
    """``tokenizer.apply_chat_template(messages, **kwargs)``, stopped after
    :data:`RENDER_LIMIT_S` seconds of rendering with :class:`ChatTemplateTimeout`.

    The template's compiled code is traced line by line in this thread (other code only
    per call), so the check runs inside its loops and the rendering itself ends, with no
    thread or process left behind; about 0.1 ms per rendering."""
    limit = RENDER_LIMIT_S
    deadline = time.monotonic() + limit

    def on_line(frame, event, arg):
        if time.monotonic() > deadline:
            raise ChatTemplateTimeout(f"the chat template of {tokenizer.name_or_path!r} did not render within {limit:g} s; "
                                      "it loops too long for any real conversation: fix or replace the template")
        return on_line

    def on_call(frame, event, arg):
        return on_line if frame.f_code.co_filename == TEMPLATE_CODE else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return tokenizer.apply_chat_template(messages, **kwargs)
    finally:
        sys.settrace(previous)


def render_prompt(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, response_prefix: str = ""
) -> str:
    """The prompt as text, ready for the model to continue with its answer."""
    if not has_chat_template(tokenizer):
        return (f"{system}\n\n" if system else "") + prompt + "\n" + response_prefix
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return apply_chat_template(tokenizer, messages, tokenize=False, add_generation_prompt=True) + response_prefix


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
