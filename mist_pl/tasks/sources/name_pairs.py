"""IUPAC-name / SMILES pairs that OPSIN confirms.

A record's name and structure are kept only when OPSIN parses the name to the same
molecule as the record's SMILES (canonical, stereo included): ORD names are often
roles ("title compound"), abbreviations or trade names, and a model must not learn
those as IUPAC names. Names go to OPSIN in one batch (one JVM start).
"""

from __future__ import annotations

from collections.abc import Iterable

from mist_pl.chem.names import names_to_smiles
from mist_pl.chem.smiles import canonicalize
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.iupac_to_smiles import MAX_NAME_CHARS


def confirmed_pairs(pairs: Iterable[tuple[str, str, str]], tally: Tally, backend: str = "auto") -> list[dict]:
    """``(name, smiles, origin)`` -> examples ``{"name", "answer", "origin"}`` for the
    pairs OPSIN agrees with; the others are counted by reason. The first occurrence of
    each (name, molecule) wins."""
    candidates, seen = [], set()
    for name, smiles, origin in pairs:
        name = " ".join(name.split())
        canonical = canonicalize(smiles)
        if canonical is None:
            tally.drop("record SMILES is not valid", origin)
        elif not name or len(name) > MAX_NAME_CHARS:
            tally.drop("name empty or too long", origin)
        elif (name.casefold(), canonical) in seen:
            tally.drop("duplicate name/structure pair", origin)
        else:
            seen.add((name.casefold(), canonical))
            candidates.append((name, canonical, origin))
    parsed = names_to_smiles([name for name, _, _ in candidates], backend=backend)
    examples = []
    for (name, canonical, origin), opsin in zip(candidates, parsed):
        if opsin is None:
            tally.drop("OPSIN cannot parse the name", origin)
        elif opsin != canonical:
            tally.drop("OPSIN structure differs from the record", origin)
        else:
            examples.append({"name": name, "answer": canonical, "origin": origin})
    return examples
