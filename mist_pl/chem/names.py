"""IUPAC names -> SMILES (OPSIN, offline) and name/structure interleaving.

Chemistry CPT corpora teach the link between nomenclature and structure by
writing a structure right after its name: "... treated with acetic anhydride
[START_SMILES]CC(=O)OC(C)=O[END_SMILES] ...". :func:`interleave` writes one such
pair and :func:`annotate_names` inserts structures after known names in a text.

Names are converted by OPSIN through pyopsin (see :mod:`mist_pl.chem.opsin` for
the offline and fork-safety details) and the result is canonicalized by RDKit,
so a returned SMILES is always valid and canonical. A name OPSIN cannot parse
gives None; a missing OPSIN installation raises :class:`OpsinUnavailable`.
"""

from __future__ import annotations

import bisect
import re
from typing import Iterable, Mapping

from mist_pl.chem.opsin import OpsinUnavailable, clean_name, opsin_available, opsin_smiles
from mist_pl.chem.smiles import canonicalize
from mist_pl.chem.tags import SMILES_START, tagged_spans, wrap_smiles

_TAG_FOLLOWS = re.compile(r"\s*" + re.escape(SMILES_START))

__all__ = [
    "OpsinUnavailable",
    "annotate_names",
    "interleave",
    "name_to_smiles",
    "names_to_smiles",
    "opsin_available",
]


def names_to_smiles(names: Iterable[object], backend: str = "auto") -> list[str | None]:
    """Canonical SMILES per name (None where OPSIN or RDKit fails), in input order.

    Pass many names at once: the subprocess backend starts one JVM per call.
    """
    names = list(names)
    cleaned = [clean_name(name) for name in names]
    todo = sorted({name for name in cleaned if name is not None})
    raw = dict(zip(todo, opsin_smiles(todo, backend=backend)))
    return [None if name is None else canonicalize(raw.get(name)) for name in cleaned]


def name_to_smiles(name: object, backend: str = "auto") -> str | None:
    """Canonical SMILES for one IUPAC (or common) name, or None if it cannot be parsed."""
    return names_to_smiles([name], backend=backend)[0]


def interleave(name: str, smiles: object, canonical: bool = True) -> str | None:
    """``"<name> [START_SMILES]<smiles>[END_SMILES]"``, or None if the SMILES is invalid."""
    written = canonicalize(smiles) if canonical else (smiles.strip() if canonicalize(smiles) else None)  # type: ignore[union-attr]
    if written is None or not isinstance(name, str) or not name.strip():
        return None
    return f"{name.strip()} {wrap_smiles(written)}"


def annotate_names(text: str, structures: Mapping[str, str], first_only: bool = True) -> str:
    """Insert ``[START_SMILES]..[END_SMILES]`` after occurrences of known names.

    ``structures`` maps a name to its SMILES (invalid SMILES are skipped). Names
    match case-insensitively as whole words, longest first, so "ethyl acetate"
    wins over "acetate". A name already followed by a SMILES tag, or inside a
    tagged block, is left alone. With ``first_only`` each name is annotated once
    per text, which is how a human writer would do it.
    """
    if not isinstance(text, str):
        return ""
    valid = {name.strip().lower(): canonicalize(smiles) for name, smiles in structures.items() if name and name.strip()}
    valid = {name: smiles for name, smiles in valid.items() if smiles}
    if not valid:
        return text
    alternatives = "|".join(re.escape(name) for name in sorted(valid, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
    blocks = [(start, end) for start, _, _, end in tagged_spans(text)]
    block_starts = [start for start, _ in blocks]
    done: set[str] = set()
    pieces, cursor = [], 0
    for match in pattern.finditer(text):
        index = bisect.bisect_right(block_starts, match.start()) - 1
        if index >= 0 and match.start() < blocks[index][1]:
            continue  # inside a tagged block
        key = match.group(0).lower()
        already_tagged = _TAG_FOLLOWS.match(text, match.end()) is not None
        if already_tagged or (first_only and key in done):
            done.add(key)
            continue
        done.add(key)
        pieces.append(text[cursor:match.end()])
        pieces.append(" " + wrap_smiles(valid[key]))
        cursor = match.end()
    pieces.append(text[cursor:])
    return "".join(pieces)
