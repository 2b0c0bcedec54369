"""Render a task prompt the way the RL stage feeds it: one user turn in the tokenizer's
chat template with the generation prompt appended (as
:class:`mist_pl.data.prompts.PromptDataModule` does), so evaluation and diagnostics see
exactly what training sees."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None) -> str:
    """The prompt as text, ready for the model to continue with its answer. A tokenizer
    without a chat template (a base model) gets the bare prompt and a newline."""
    if not has_chat_template(tokenizer):
        return (f"{system}\n\n" if system else "") + prompt + "\n"
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None) -> list[int]:
    # The template already holds every control token the model needs.
    return list(tokenizer(render_prompt(tokenizer, prompt, system), add_special_tokens=False)["input_ids"])
