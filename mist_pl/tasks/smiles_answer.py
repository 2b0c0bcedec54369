"""Read a SMILES out of an answer block, strictly enough that junk is invalid.

The answer may be wrapped in the tokenizer's ``[START_SMILES]...[END_SMILES]`` tags or
in backticks; anything else around the SMILES makes it invalid. Whitespace inside is
rejected explicitly because RDKit reads "CCO is ethanol" as CCO named "is ethanol".
"""

from __future__ import annotations

import functools

from mist_pl.chem import smiles as chem_smiles
from mist_pl.chem.tags import SMILES_END, SMILES_START

_WRAPPERS = ((SMILES_START, SMILES_END), ("```", "```"), ("`", "`"))


def smiles_text(answer: str | None) -> str | None:
    """The bare SMILES string of an answer, or None if it cannot be one."""
    if answer is None:
        return None
    text = answer.strip()
    if len(text) > chem_smiles.MAX_SMILES_LEN + 40:  # room for the wrapper tags only
        return None
    for start, end in _WRAPPERS:
        if len(text) >= len(start) + len(end) and text.startswith(start) and text.endswith(end):
            text = text[len(start) : len(text) - len(end)].strip()
            break
    if not text or len(text) > chem_smiles.MAX_SMILES_LEN or any(ch.isspace() for ch in text):
        return None
    return text


def canonical_answer(answer: str | None) -> str | None:
    """RDKit canonical SMILES of the answer, or None if it is not a valid SMILES."""
    text = smiles_text(answer)
    return None if text is None else chem_smiles.canonicalize(text)


@functools.lru_cache(maxsize=65536)
def canonical_gold(smiles: str) -> str | None:
    """Canonical SMILES of a gold answer, cached: each repeats G times per prompt."""
    return chem_smiles.canonicalize(smiles)
