"""Molecules that ship inside the RDKit wheel: real SMILES with no download.

* ``Data/NCI/first_5K.smi``: ~5,000 NCI compounds (tab-separated, SMILES first);
* ``Data/Pains/test_data/wehi_mols.csv``: 10,000 WEHI screening compounds (quoted CSV);
* ``Contrib/FreeWilson/data/CHEMBL2321810.smi``: ~1,000 molecules of one ChEMBL series.

Files missing from a trimmed RDKit build are skipped and counted, not fatal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from mist_pl.tasks.examples import Tally

# (path below the RDKit data or contrib folder, is it under Contrib, delimiter)
SHIPPED_FILES = (
    (("NCI", "first_5K.smi"), False, "\t"),
    (("Pains", "test_data", "wehi_mols.csv"), False, ","),
    (("FreeWilson", "data", "CHEMBL2321810.smi"), True, " "),
)


def _folder(contrib: bool) -> Path:
    from rdkit import RDConfig

    return Path(RDConfig.RDContribDir if contrib else RDConfig.RDDataDir)


def shipped_smiles(tally: Tally, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """``(smiles, origin)`` for the first column of each shipped file (at most ``limit`` per file)."""
    for parts, contrib, delimiter in SHIPPED_FILES:
        path = _folder(contrib).joinpath(*parts)
        if not path.is_file():
            tally.drop("RDKit data file not shipped in this build", str(path))
            continue
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
                if limit is not None and number > limit:
                    break
                if row and row[0].strip():
                    yield row[0].strip(), f"rdkit:{'/'.join(parts)}:{number}"
