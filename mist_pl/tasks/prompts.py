"""The sentence every task prompt ends with: how to lay out the completion."""

from __future__ import annotations


def answer_instructions(what: str, example: str) -> str:
    """Tell the model to reason in <think> and put only ``what`` in <answer>.

    ``example`` is a literal answer shown in the required layout, so the format is
    unambiguous even for a small model.
    """
    return (
        "First reason step by step inside <think> </think>, then give "
        f"{what} inside <answer> </answer> and nothing after it. "
        f"Layout: <think>...</think><answer>{example}</answer>"
    )
