"""Read a material-generation answer: ``El El ... <sgN>`` text or a CIF.

Text format (:func:`parse_material_text`): element tokens separated by whitespace or
commas alike, one token per atom of the cell (``Na Cl``), optionally with a count
(``Na2 Cl2``); then at most one space-group tag ``<sgN>`` as the last token. Tokens
are checked character by character (no regular expressions on model output).

CIF answers are recognised by :func:`looks_like_cif` and may be wrapped in
``[START_CIF]...[END_CIF]``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mist_pl.chem.tags import CIF_END, CIF_START

MAX_TEXT_ANSWER_CHARS = 4_000
MAX_ATOMS = 500  # per cell; bounds the SMACT check and keeps answers plausible
MAX_COUNT_DIGITS = 3

_CIF_MARKERS = ("_cell_length_a", "_atom_site_", "_symmetry_space_group", "_space_group")


@dataclass(frozen=True)
class MaterialText:
    counts: dict[str, int]  # element symbol as written -> atoms in the cell
    space_group: int | None  # the <sgN> number, None when absent


def _element_token(token: str) -> tuple[str, int] | None:
    """``"Na"`` -> ("Na", 1); ``"Cl2"`` -> ("Cl", 2); anything else -> None."""
    i = 1
    if not token or not ("A" <= token[0] <= "Z"):
        return None
    while i < len(token) and i < 3 and "a" <= token[i] <= "z":
        i += 1
    symbol, digits = token[:i], token[i:]
    if not digits:
        return symbol, 1
    if len(digits) > MAX_COUNT_DIGITS or not all("0" <= d <= "9" for d in digits) or int(digits) == 0:
        return None
    return symbol, int(digits)


def _space_group_token(token: str) -> int | None:
    """``"<sg225>"`` -> 225; None if not a space-group tag."""
    if not (token.startswith("<sg") and token.endswith(">")):
        return None
    digits = token[3:-1].strip()
    if not digits or len(digits) > 4 or not all("0" <= d <= "9" for d in digits):
        return None
    return int(digits)


def parse_material_text(answer: str | None) -> MaterialText | None:
    """The composition and space group an ``El El ... <sgN>`` answer states, or None if it
    does not follow that format. A space group outside 1-230 still parses (it is scored
    separately)."""
    if answer is None or len(answer) > MAX_TEXT_ANSWER_CHARS:
        return None
    text = answer.replace(",", " ").replace("<sg", " <sg")
    tokens = text.split()
    if not tokens:
        return None
    space_group = None
    if tokens[-1].startswith("<sg"):
        space_group = _space_group_token(tokens.pop())
        if space_group is None:
            return None
    counts: Counter[str] = Counter()
    for token in tokens:
        parsed = _element_token(token)
        if parsed is None:
            return None
        counts[parsed[0]] += parsed[1]
        if sum(counts.values()) > MAX_ATOMS:
            return None
    if not counts:
        return None
    return MaterialText(dict(counts), space_group)


def cif_text(answer: str | None) -> str | None:
    """The CIF inside an answer (wrapper tags removed) if the answer looks like one."""
    if answer is None:
        return None
    text = answer.strip()
    if text.startswith(CIF_START):
        text = text[len(CIF_START) :].strip()
        if text.endswith(CIF_END):
            text = text[: -len(CIF_END)].strip()
    return text if looks_like_cif(text) else None


def looks_like_cif(text: str) -> bool:
    return text.startswith("data_") or any(marker in text for marker in _CIF_MARKERS)
