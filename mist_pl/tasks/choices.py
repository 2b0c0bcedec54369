"""Read a short closed-form answer: a multiple-choice letter or true/false."""

from __future__ import annotations

import string

LETTERS = string.ascii_uppercase
MAX_CHOICE_ANSWER_CHARS = 40  # "(B)", "Option B." fit; an essay is not a choice

_PUNCTUATION = "()[]{}<>.,:;!*'\"` "
_PREFIXES = ("option ", "answer ", "answer: ", "choice ")


def _bare(answer: str | None) -> str | None:
    if answer is None or len(answer) > MAX_CHOICE_ANSWER_CHARS:
        return None
    text = " ".join(answer.split()).casefold()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.strip(_PUNCTUATION)


def choice_letter(answer: str | None, n_options: int) -> str | None:
    """The option letter an answer picks ("b", "(B)", "Option B." -> "B"), or None when it
    is not exactly one letter among the first ``n_options``."""
    text = _bare(answer)
    if text is None or len(text) != 1:
        return None
    letter = text.upper()
    return letter if letter in LETTERS[: max(0, min(n_options, len(LETTERS)))] else None


def true_false(answer: str | None) -> bool | None:
    """True for "true", False for "false" (any case, light punctuation), else None."""
    text = _bare(answer)
    return {"true": True, "false": False}.get(text) if text is not None else None
