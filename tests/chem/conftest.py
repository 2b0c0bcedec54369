"""Shared fixtures for the chemistry tests: the MiST demo data and RDKit's shipped SMILES."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DEMO_DATA = Path(os.environ.get("MIST_DEMO_DATA", Path(__file__).resolve().parents[3] / "shared/data/mist-demo"))


@pytest.fixture(scope="session")
def demo_data() -> Path:
    if not DEMO_DATA.is_dir():
        pytest.skip(f"demo fixtures not found at {DEMO_DATA} (set MIST_DEMO_DATA)")
    return DEMO_DATA


@pytest.fixture(scope="session")
def pubchem_rows(demo_data: Path) -> list[dict[str, str]]:
    with open(demo_data / "pubchem/CRLLM-PubChem-compounds1M.sample.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def nci_smiles() -> list[str]:
    """The first 400 SMILES of RDKit's shipped NCI set (real, messy molecules)."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI/first_5K.smi"
    return [line.split()[0] for line in path.read_text().splitlines()[:400] if line.strip()]
