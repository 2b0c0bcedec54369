"""The sentence every task prompt ends with: how to lay out the completion."""

from __future__ import annotations


def answer_instructions(what: str, placeholder: str) -> str:
    """Tell the model to reason in <think> and put only ``what`` in <answer>.

    ``placeholder`` stands where the answer goes in the layout line. It must not itself
    be a valid answer of the task: a literal answer there ("C-C Coupling") is a string a
    model can copy for reward without reading the question, and RL finds such copies
    (the tests feed every task its own prompt as a completion and expect nothing for it).
    """
    return (
        "First reason step by step inside <think> </think>, then give "
        f"{what} inside <answer> </answer> and nothing after it. "
        f"Layout: <think>...</think><answer>{placeholder}</answer>"
    )
