"""Text the built-in chemistry tokenizer is trained on, read only from installed packages.

The corpus must be identical on every machine with the same package versions, so the
tokenizer built from it is reproducible: RDKit's shipped SMILES sets (~15k molecules),
CIF text of pymatgen's shipped example structures, the project's own English asset and
the fixed vocabulary of prompts and answers (reaction classes, element symbols).
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Iterator

from mist_pl.models.special_tokens import CHEM_SPECIAL_TOKENS

REACTION_CLASSES = (
    "Acylation", "Aromatic Heterocycle Formation", "C-C Coupling", "Deprotection",
    "Functional Group Addition", "Functional Group Interconversion",
    "Heteroatom Alkylation and Arylation", "Miscellaneous", "Protection", "Reduction",
    "Oxidation",
)


def _rdkit_smiles() -> Iterator[str]:
    from rdkit import RDConfig

    data, contrib = Path(RDConfig.RDDataDir), Path(RDConfig.RDContribDir)
    smi_files = [data / "NCI" / "first_5K.smi", contrib / "FreeWilson" / "data" / "CHEMBL2321810.smi"]
    for path in smi_files:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    yield line.split()[0]
    pains = data / "Pains" / "test_data" / "wehi_mols.csv"
    if pains.exists():
        with pains.open(newline="") as handle:
            for row in csv.reader(handle):
                if row and row[0] and not row[0].lower().startswith("smiles"):
                    yield row[0]


def _pymatgen_cifs() -> Iterator[str]:
    import warnings

    import pymatgen.util
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifWriter

    folder = Path(pymatgen.util.__path__[0]) / "structures"
    for path in sorted(folder.glob("*.json")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_dict(json.loads(path.read_text()))
            yield str(CifWriter(structure))


def _fixed_vocabulary() -> Iterator[str]:
    from pymatgen.core.periodic_table import Element

    yield " ".join(el.symbol for el in Element)
    yield "\n".join(REACTION_CLASSES)
    yield " ".join(f"<sg{n}>" for n in range(1, 231))
    yield " ".join(CHEM_SPECIAL_TOKENS)


def iter_corpus() -> Iterator[str]:
    """Yield the training texts in a fixed order."""
    yield resources.files("mist_pl.assets").joinpath("general_text.txt").read_text()
    for smiles in _rdkit_smiles():
        yield f"[START_SMILES]{smiles}[END_SMILES]"
    for cif in _pymatgen_cifs():
        yield f"[START_CIF]\n{cif}[END_CIF]"
    yield from _fixed_vocabulary()
