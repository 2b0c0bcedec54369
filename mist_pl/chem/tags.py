"""The special tokens that mark chemical structures inside text.

A CPT document or a model answer carries structures between explicit tags so the
tokenizer can treat them as atomic special tokens and rewards can find them
without guessing. These strings are part of the data format: changing them
invalidates every corpus and checkpoint built with them.

Finding tagged blocks takes time linear in the text, whatever it holds (unclosed tags
included): see :func:`tagged_spans`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

SMILES_START = "[START_SMILES]"
SMILES_END = "[END_SMILES]"
CIF_START = "[START_CIF]"
CIF_END = "[END_CIF]"

ALL_TAGS = (SMILES_START, SMILES_END, CIF_START, CIF_END)

# What a block is, as patterns: non-greedy and DOTALL (a CIF block spans lines, and two
# tagged spans in one text must not merge into one). They define the blocks but are not
# used to find them: from every opening tag that is never closed, the non-greedy scan runs
# to the end of the text, so a text full of unclosed tags took quadratic time (minutes per
# megabyte). :func:`tagged_spans` finds the same blocks in one pass.
_SMILES_BLOCK = re.compile(re.escape(SMILES_START) + r"(.*?)" + re.escape(SMILES_END), re.DOTALL)
_CIF_BLOCK = re.compile(re.escape(CIF_START) + r"(.*?)" + re.escape(CIF_END), re.DOTALL)
TAGGED_BLOCK = re.compile(f"{_SMILES_BLOCK.pattern}|{_CIF_BLOCK.pattern}", re.DOTALL)

CLOSING = {SMILES_START: SMILES_END, CIF_START: CIF_END}
# Every tag occurrence. Tags start with "[" and hold no other "[", so occurrences never
# overlap and one left-to-right scan finds all of them.
_ANY_TAG = re.compile("|".join(re.escape(tag) for tag in ALL_TAGS))


def tagged_spans(text: str, opening: tuple[str, ...] = (SMILES_START, CIF_START)) -> Iterator[tuple[int, int, int, int]]:
    """``(block start, content start, content end, block end)`` of every closed block whose
    opening tag is in ``opening``, left to right: the blocks :data:`TAGGED_BLOCK` (or the
    one-kind pattern) finds. A block runs from an opening tag to the first closing tag of
    its kind after it; an opening tag never closed opens nothing and the text after it is
    scanned on; tags inside a block are content.

    Linear: one pass collects the positions of all tags, then each opening tag finds its
    closing tag by binary search instead of rescanning the rest of the text."""
    positions: dict[str, list[int]] = {tag: [] for tag in ALL_TAGS}
    for match in _ANY_TAG.finditer(text):
        positions[match.group()].append(match.start())
    openings = sorted((at, tag) for tag in opening for at in positions[tag])
    cursor = 0
    for at, tag in openings:
        if at < cursor:
            continue  # inside the previous block
        closing = CLOSING[tag]
        ends = positions[closing]
        index = bisect_left(ends, at + len(tag))
        if index == len(ends):
            continue  # never closed
        close = ends[index]
        yield at, at + len(tag), close, close + len(closing)
        cursor = close + len(closing)


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
    return [text[a:b].strip() for _, a, b, _ in tagged_spans(text, (SMILES_START,))]


def find_cifs(text: str) -> list[str]:
    """The contents of every ``[START_CIF]..[END_CIF]`` span, stripped."""
    if not isinstance(text, str):
        return []
    return [text[a:b].strip() for _, a, b, _ in tagged_spans(text, (CIF_START,))]


def strip_tags(text: str) -> str:
    """Remove the tag tokens themselves, keeping what they enclosed."""
    for tag in ALL_TAGS:
        text = text.replace(tag, "")
    return text
