from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure
from smact.screening import smact_validity

from mist_pl.chem.charge_balance import is_charge_balanced
from mist_pl.chem.substitution import charge_balanced_substitutions, similar_elements

FORMULAS = ["NaCl", "NaCl2", "Fe2O3", "FeO", "Fe3O4", "CsPbI3", "LiFePO4", "NaO", "KBr3", "BaTiO3", "NaK", "Al2O3", "CaF3"]


def test_nacl_balanced_nacl2_not():
    assert is_charge_balanced("NaCl") is True
    assert is_charge_balanced("NaCl2") is False


@pytest.mark.parametrize("formula", FORMULAS)
def test_agrees_with_smact(formula):
    assert is_charge_balanced(formula) == smact_validity(formula)


def test_input_forms():
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert is_charge_balanced(rocksalt)
    assert is_charge_balanced(rocksalt.composition)
    assert is_charge_balanced(["Na", "Cl"])
    assert is_charge_balanced({"Fe": 2, "O": 3})
    assert not is_charge_balanced({"Na": 1, "Cl": 2})
    for junk in [None, "", "Xx2", 42, "NaCl" * 100]:
        assert is_charge_balanced(junk) is False


def test_too_many_elements_answer_false_quickly():
    assert is_charge_balanced("MnFeCoNiCrVTiCuO9S") is False


def test_substitutions_are_neighbours_and_balanced():
    assert "K" in similar_elements("Na") and "S" in similar_elements("O")
    assert similar_elements("Xx") == ()
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    results = charge_balanced_substitutions(rocksalt, n=3, seed=1)
    assert 1 <= len(results) <= 3
    for mapping, structure in results:
        assert is_charge_balanced(structure)
        (old, new), = mapping.items()
        assert new in similar_elements(old)
    assert charge_balanced_substitutions(rocksalt, n=3, seed=1)[0][0] == results[0][0]  # seeded
