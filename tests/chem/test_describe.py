from __future__ import annotations

import itertools

import pytest
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from mist_pl.chem.crystals import parse_cif
from mist_pl.chem.describe import crystal_documents, describe_molecule, describe_reaction, describe_structure
from mist_pl.chem.smiles import canonicalize
from mist_pl.chem.tags import SMILES_END, SMILES_START, find_cifs, find_smiles


@pytest.mark.parametrize("smiles", ["CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "O=[N+]([O-])c1ccc(Cl)cc1", "C", "[Na+].[Cl-]"])
def test_molecule_document_states_the_right_formula_and_tags(smiles):
    text = describe_molecule(smiles, seed=3)
    formula = rdMolDescriptors.CalcMolFormula(Chem.MolFromSmiles(smiles))
    assert formula in text
    assert text.count(SMILES_START) == 1 and text.count(SMILES_END) == 1
    assert find_smiles(text) == [canonicalize(smiles)]


def test_molecule_document_facts():
    text = describe_molecule("CC(=O)Oc1ccccc1C(=O)O", seed=0)
    assert "180.0423" in text and "180.16" in text
    for group in ("carboxylic acid", "ester", "aromatic ring"):
        assert group in text
    assert "1 hydrogen-bond donor" in text and "4 hydrogen-bond acceptors" not in text


def test_molecule_documents_are_seeded_and_varied():
    texts = {describe_molecule("CCO", seed=seed) for seed in range(12)}
    assert len(texts) > 3
    assert describe_molecule("CCO", seed=5) == describe_molecule("OCC", seed=5)
    randomized = describe_molecule("CC(=O)Oc1ccccc1C(=O)O", seed=2, randomize_smiles=True)
    assert canonicalize(find_smiles(randomized)[0]) == canonicalize("CC(=O)Oc1ccccc1C(=O)O")


def test_invalid_inputs_give_none():
    assert describe_molecule("C1CC") is None
    assert describe_molecule(None) is None
    assert describe_reaction("CC>>") is None


def test_reaction_document():
    text = describe_reaction("CC(=O)Cl.OCC>CCN(CC)CC>CCOC(C)=O", seed=1)
    assert set(find_smiles(text)) == {"CC(=O)Cl", "CCO", "CCN(CC)CC", "CCOC(C)=O"}
    assert "Functional groups formed: ester" in text
    assert "acyl halide" in text and "C4H8O2" in text


def test_structure_document_carries_a_parseable_cif():
    name, document = next(iter(crystal_documents(include_prototypes=False)))
    assert name == "util:BaNiO3"
    assert "P6_3mc" in document and "BaNiO3" in document
    structure = parse_cif(find_cifs(document)[0])
    assert structure.composition.reduced_formula == "BaNiO3"
    assert describe_structure(structure, seed=0).split("\n")[0] != ""


def test_crystal_documents_include_checked_substitutions():
    names = [name for name, _ in itertools.islice(crystal_documents(include_prototypes=False), 15)]
    substituted = [name for name in names if "->" in name]
    assert substituted and all("+" in name for name in substituted)
    assert not any(name.startswith("util:Graphite+") for name in names)  # elemental: nothing to check
