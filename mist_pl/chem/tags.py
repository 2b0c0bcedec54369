"""The special tokens that mark chemical structures inside text.

A CPT document or a model answer carries structures between explicit tags so the
tokenizer can treat them as atomic special tokens and rewards can find them
without guessing. These strings are part of the data format: changing them
invalidates every corpus and checkpoint built with them.
"""

from __future__ import annotations

import re

SMILES_START = "[START_SMILES]"
SMILES_END = "[END_SMILES]"
CIF_START = "[START_CIF]"
CIF_END = "[END_CIF]"

ALL_TAGS = (SMILES_START, SMILES_END, CIF_START, CIF_END)

# Non-greedy and DOTALL: a CIF block spans lines, and two tagged spans in one
# text must not merge into one.
_SMILES_BLOCK = re.compile(re.escape(SMILES_START) + r"(.*?)" + re.escape(SMILES_END), re.DOTALL)
_CIF_BLOCK = re.compile(re.escape(CIF_START) + r"(.*?)" + re.escape(CIF_END), re.DOTALL)
TAGGED_BLOCK = re.compile(f"{_SMILES_BLOCK.pattern}|{_CIF_BLOCK.pattern}", re.DOTALL)


def wrap_smiles(smiles: str) -> str:
    """``[START_SMILES]<smiles>[END_SMILES]`` with no spaces inside the tags."""
    return f"{SMILES_START}{smiles.strip()}{SMILES_END}"


def wrap_cif(cif: str) -> str:
    """``[START_CIF]\\n<cif>\\n[END_CIF]``.

    CIF is line oriented (``data_`` and ``loop_`` must start a line), so the body
    sits on its own lines; ``find_cifs`` strips that whitespace again.
    """
    return f"{CIF_START}\n{cif.strip()}\n{CIF_END}"


def find_smiles(text: str) -> list[str]:
    """The contents of every ``[START_SMILES]..[END_SMILES]`` span, stripped."""
    if not isinstance(text, str):
        return []
    return [m.group(1).strip() for m in _SMILES_BLOCK.finditer(text)]


def find_cifs(text: str) -> list[str]:
    """The contents of every ``[START_CIF]..[END_CIF]`` span, stripped."""
    if not isinstance(text, str):
        return []
    return [m.group(1).strip() for m in _CIF_BLOCK.finditer(text)]


def strip_tags(text: str) -> str:
    """Remove the tag tokens themselves, keeping what they enclosed."""
    for tag in ALL_TAGS:
        text = text.replace(tag, "")
    return text
