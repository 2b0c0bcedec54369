"""Shared fixtures for the chemistry tests: the MiST demo data and RDKit's shipped SMILES."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mist_pl.shipped import MIST_DEMO


@pytest.fixture(scope="session")
def demo_data() -> Path:
    """The mist-demo fixtures shipped in the package (mist_pl/assets/mist_demo)."""
    assert MIST_DEMO.is_dir(), f"the package's mist-demo fixtures are missing: {MIST_DEMO}"
    return MIST_DEMO


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
