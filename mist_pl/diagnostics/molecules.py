"""Read the molecules SCS scores: RDKit's shipped NCI set by default, or a user file.

Accepted files: ``.smi`` / ``.txt`` (first whitespace-separated field of each line;
blank lines, ``#`` comments and a ``smiles`` header skipped) and ``.csv`` (the first
column named ``SMILES``, ``smiles``, ``canonical_smiles`` or ``CanonicalSMILES``).
Validity is not checked here: SCS canonicalizes and counts what RDKit rejects.
"""

from __future__ import annotations

import csv
from pathlib import Path

SMILES_COLUMNS = ("SMILES", "smiles", "canonical_smiles", "CanonicalSMILES")


def default_smiles_file() -> Path:
    """RDKit's ``Data/NCI/first_5K.smi`` (5,000 NCI molecules, shipped with every RDKit)."""
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"


def read_smiles(path: str | Path | None = None, limit: int | None = None) -> list[str]:
    """The first ``limit`` SMILES of ``path`` (default: :func:`default_smiles_file`)."""
    path = Path(path) if path is not None else default_smiles_file()
    if not path.is_file():
        raise FileNotFoundError(f"SMILES file {path} does not exist")
    smiles = _read_csv(path) if path.suffix.lower() == ".csv" else _read_lines(path)
    return smiles if limit is None else smiles[:limit]


def _read_lines(path: Path) -> list[str]:
    out = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0].startswith("#") or fields[0].lower() == "smiles":
                continue
            out.append(fields[0])
    return out


def _read_csv(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        column = next((c for c in SMILES_COLUMNS if c in (reader.fieldnames or [])), None)
        if column is None:
            raise ValueError(f"{path}: no SMILES column {SMILES_COLUMNS}; header is {reader.fieldnames}")
        return [row[column].strip() for row in reader if (row.get(column) or "").strip()]
