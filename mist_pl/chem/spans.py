"""Find SMILES inside free text and wrap them in ``[START_SMILES]..[END_SMILES]``.

Heuristic (what counts as a *candidate*)
----------------------------------------
Text is split on whitespace. Each token loses surrounding prose punctuation
(trailing ``. , ; : ! ?``, quotes, and parentheses that wrap the whole token or
are unbalanced, as in "ethanol (CCO)."). What is left is a candidate when all of
these hold:

1. it is written entirely in the SMILES alphabet: organic-subset atoms
   (``B C N O P S F Cl Br I``, aromatic ``b c n o p s``, ``*``), bracket atoms
   with real bracket syntax (``[NH4+]``, ``[C@@H]``, ``[13CH3]``, ``[O-:2]``),
   bonds ``- = # $ : / \\``, branches, ring closures (``1``, ``%12``) and ``.``;
2. it contains at least one atom;
3. and it looks deliberately written as SMILES, i.e. one of
   a. it contains a bracket atom or a ring-closure digit; or
   b. it has >= 3 atoms and a bond, branch or dot symbol
      (``CC(=O)O``, ``C=CC``, ``O=C=O``), which leaves the prose bond notation
      ``C=O``, ``C-C``, ``C#N`` (two atoms) alone; or
   c. it is a plain run of >= ``min_plain_atoms`` (default 4) aliphatic atoms
      (``CCCC``, ``CCOC``), which leaves acronyms and words such as ``CO``,
      ``NO``, ``PCC``, ``NBS``, ``BOC`` alone. The price: a bare ``CCO`` in prose
      is not tagged unless the caller lowers ``min_plain_atoms`` to 3.

Words like "Cat" or "Nature" fail rule 1 (letters outside the alphabet); "I" and
"CO" fail rule 3. Every candidate is then parsed by RDKit: valid ones are tagged,
invalid ones ("O2", "C1" as a footnote, "CO2" written as a formula) stay as text
and are counted in :attr:`TaggedText.n_rejected`.

Text that is already between ``[START_SMILES]..[END_SMILES]`` or
``[START_CIF]..[END_CIF]`` is copied through untouched, so tagging is idempotent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mist_pl.chem.smiles import MAX_SMILES_LEN, canonicalize, mol_to_canonical, parse
from mist_pl.chem.tags import CIF_END, CIF_START, SMILES_END, SMILES_START, tagged_spans, wrap_smiles

__all__ = [
    "CIF_END",
    "CIF_START",
    "SMILES_END",
    "SMILES_START",
    "TaggedText",
    "is_candidate",
    "tag_smiles",
    "tag_smiles_spans",
    "trim_token",
    "wrap_smiles",
]

_ORGANIC_ATOM = r"Cl|Br|[BCNOPSFI]|[bcnops]|\*"
_BRACKET_ATOM = (
    r"\[\d{0,3}"  # isotope
    r"(?:[A-Z][a-z]?|se|as|te|[bcnops]|\*)"  # element (aromatic forms included)
    r"(?:@(?:@|TH[12]|AL[12]|SP[123]|TB\d{1,2}|OH\d{1,2})?)?"  # chirality
    r"(?:H\d?)?"  # hydrogen count
    r"(?:[+-]\d{1,2}|[+-]{1,3})?"  # charge
    r"(?::\d{1,4})?\]"  # atom map / class
)
_ATOM = re.compile(f"{_BRACKET_ATOM}|{_ORGANIC_ATOM}")
_SMILES_ALPHABET = re.compile(rf"(?:{_BRACKET_ATOM}|{_ORGANIC_ATOM}|%\d\d|\d|[-=#$:/\\.()])+")
_UNMISTAKABLE = re.compile(r"[\[\d]")  # bracket atom or ring closure
_BOND_OR_BRANCH = re.compile(r"[-=#$/\\().:]")
_PLAIN_ALIPHATIC = re.compile(r"(?:Cl|Br|[BCNOPSFI])+")

_TRAILING_PUNCTUATION = ".,;:!?\"'`\u201d\u2019"
_LEADING_PUNCTUATION = "\"'`\u201c\u2018"
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class TaggedText:
    """Result of :func:`tag_smiles_spans`."""

    text: str
    n_tagged: int
    """Valid SMILES that received tags in this call."""
    n_rejected: int
    """Candidates that looked like SMILES but RDKit refused (left as plain text)."""
    n_already_tagged: int
    """Spans that were tagged before the call and copied through."""
    rejected: tuple[str, ...] = ()


def trim_token(token: str) -> tuple[int, int]:
    """``(start, end)`` of the token once prose punctuation around it is removed.

    One mark at a time, in this order: trailing punctuation, leading quotes, a closing
    parenthesis the token has too many of, an opening one it has too many of, a pair of
    parentheses around all of it. Linear in the token: the parenthesis counts are kept as
    marks come off, and whether a pair wraps the rest comes from a table of matching
    parentheses built once (scanning the rest again for every mark removed was quadratic,
    minutes for a megabyte of parentheses)."""
    start, end = 0, len(token)
    opens, closes = token.count("("), token.count(")")
    partner: dict[int, int] | None = None
    while start < end:
        first, last = token[start], token[end - 1]
        if last in _TRAILING_PUNCTUATION:
            end -= 1
        elif first in _LEADING_PUNCTUATION:
            start += 1
        elif last == ")" and closes > opens:
            end -= 1
            closes -= 1
        elif first == "(" and opens > closes:
            start += 1
            opens -= 1
        elif first == "(" and last == ")":
            if partner is None:
                partner = _matching_parentheses(token)
            if partner.get(start) != end - 1:
                break
            start, end = start + 1, end - 1
            opens, closes = opens - 1, closes - 1
        else:
            break
    return start, end


def _matching_parentheses(token: str) -> dict[int, int]:
    """Index of each ``(`` -> index of the ``)`` that closes it. The partner of an opening
    parenthesis depends only on what follows it, so the table built on the whole token
    also answers for every trimmed piece of it that still holds both ends."""
    partner, stack = {}, []
    for index, char in enumerate(token):
        if char == "(":
            stack.append(index)
        elif char == ")" and stack:
            partner[stack.pop()] = index
    return partner


def is_candidate(token: str, min_plain_atoms: int = 4) -> bool:
    """True if ``token`` (already trimmed) looks like SMILES by the module's heuristic."""
    if not token or len(token) > MAX_SMILES_LEN or not _SMILES_ALPHABET.fullmatch(token):
        return False
    n_atoms = len(_ATOM.findall(token))
    if n_atoms == 0:
        return False
    if _UNMISTAKABLE.search(token):
        return True
    if _BOND_OR_BRANCH.search(token):
        return n_atoms >= 3
    return n_atoms >= min_plain_atoms and bool(_PLAIN_ALIPHATIC.fullmatch(token))


def _looks_too_long(token: str) -> bool:
    return len(token) > MAX_SMILES_LEN and bool(_SMILES_ALPHABET.fullmatch(token[:MAX_SMILES_LEN]))


def tag_smiles_spans(text: str, canonical: bool = False, min_plain_atoms: int = 4) -> TaggedText:
    """Wrap every valid SMILES in ``text`` in ``[START_SMILES]..[END_SMILES]``.

    ``canonical=True`` also replaces each tagged SMILES by its canonical form;
    by default the writer's spelling is kept. Non-string input gives an empty
    result rather than an exception.
    """
    if not isinstance(text, str):
        return TaggedText("", 0, 0, 0)
    pieces: list[str] = []
    tagged = already = 0
    rejected: list[str] = []
    cursor = 0
    for start, _, _, end in tagged_spans(text):
        tagged += _tag_plain(text[cursor:start], pieces, rejected, canonical, min_plain_atoms)
        pieces.append(text[start:end])
        already += 1
        cursor = end
    tagged += _tag_plain(text[cursor:], pieces, rejected, canonical, min_plain_atoms)
    return TaggedText("".join(pieces), tagged, len(rejected), already, tuple(rejected))


def _tag_plain(segment: str, pieces: list[str], rejected: list[str], canonical: bool, min_plain_atoms: int) -> int:
    """Tag SMILES in an untagged segment, appending the output to ``pieces``."""
    tagged = 0
    cursor = 0
    for match in _TOKEN.finditer(segment):
        token = match.group(0)
        if _looks_too_long(token):
            rejected.append(token[:80] + "...")
            continue
        start, end = trim_token(token)
        core = token[start:end]
        if not is_candidate(core, min_plain_atoms):
            continue
        mol = parse(core)
        if mol is None:
            rejected.append(core)
            continue
        written = mol_to_canonical(mol) if canonical else core
        span_start = match.start() + start
        pieces.append(segment[cursor:span_start])
        pieces.append(wrap_smiles(written or core))
        cursor = match.start() + end
        tagged += 1
    pieces.append(segment[cursor:])
    return tagged


def tag_smiles(smiles: object, canonical: bool = True) -> str | None:
    """One record's SMILES validated, canonicalized (by default) and tagged; None if invalid."""
    if canonical:
        written = canonicalize(smiles)
    else:
        written = smiles.strip() if parse(smiles) is not None else None  # type: ignore[union-attr]
    # canonical SMILES carry no whitespace, so the tags are joined directly
    return None if written is None else f"{SMILES_START}{written}{SMILES_END}"
