from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure
from smact.screening import ICSD24FilterConfig, smact_validity

from mist_pl.chem.charge_balance import (
    DEFAULT_OXIDATION_STATES,
    OXIDATION_STATE_SETS,
    check_oxidation_states,
    is_charge_balanced,
)
from mist_pl.chem.substitution import charge_balanced_substitutions, similar_elements

FORMULAS = ["NaCl", "NaCl2", "Fe2O3", "FeO", "Fe3O4", "CsPbI3", "LiFePO4", "NaO", "KBr3", "BaTiO3", "NaK", "Al2O3", "CaF3"]
# Real compounds, each element in a common oxidation state.
REAL = ["SrTiO3", "NaCl", "MgO", "BaTiO3", "ZnS", "GaAs", "LiCoO2", "Al2O3", "TiO2", "Fe2O3", "FeO", "CaF2", "KCl"]
# Impossible ones the loose sets accept: Sr+4, Y+4, La+4, Zn+4, Nd+5 or O-1 would be needed.
# SrTiO8 and YO2 are what RL answered in the held-out checks (with Sr, Ti, O and Y, O).
IMPOSSIBLE = ["SrTiO8", "YO2", "NaCl3", "LaO2", "ZnO2", "Nd2O5"]
MIXED_VALENCE = ["Fe3O4", "Mn3O4", "Co3O4", "LiMn2O4"]


def test_nacl_balanced_nacl2_not():
    assert is_charge_balanced("NaCl") is True
    assert is_charge_balanced("NaCl2") is False


@pytest.mark.parametrize("formula", REAL)
def test_real_compounds_are_charge_balanced(formula):
    assert is_charge_balanced(formula)


@pytest.mark.parametrize("formula", IMPOSSIBLE)
def test_impossible_compositions_are_not(formula):
    assert not is_charge_balanced(formula)


def test_smacts_own_default_has_the_hole_the_strict_default_closes():
    """The reason for the default: SMACT 4's default set accepts SrTiO8 and YO2."""
    assert smact_validity("SrTiO8") and smact_validity("YO2")
    assert is_charge_balanced("SrTiO8", oxidation_states="icsd24_low")
    assert is_charge_balanced("YO2", oxidation_states="icsd24_low")
    assert DEFAULT_OXIDATION_STATES == "icsd24_medium"


@pytest.mark.parametrize("formula", FORMULAS)
def test_agrees_with_smact_under_the_strict_filter(formula):
    strict = ICSD24FilterConfig(consensus=3, commonality="medium")
    assert is_charge_balanced(formula) == smact_validity(formula, icsd_filter=strict)


def test_single_valence_rejects_mixed_valence_compounds_unless_allowed():
    for formula in MIXED_VALENCE:
        assert not is_charge_balanced(formula), formula
        assert is_charge_balanced(formula, mixed_valence=True), formula
    for formula in IMPOSSIBLE:  # allowing mixed valence does not reopen the holes
        assert not is_charge_balanced(formula, mixed_valence=True), formula


def test_every_named_set_runs_and_an_unknown_one_is_named():
    for name in OXIDATION_STATE_SETS:
        assert is_charge_balanced("NaCl", oxidation_states=name) and not is_charge_balanced("NaCl3", oxidation_states=name)
    strictest = "icsd24_common"  # one state per element: As+5 and Co+2 only
    assert not is_charge_balanced("GaAs", oxidation_states=strictest) and not is_charge_balanced("LiCoO2", oxidation_states=strictest)
    with pytest.raises(ValueError, match="oxidation_states='icsd99' is not one of"):
        is_charge_balanced("NaCl", oxidation_states="icsd99")
    with pytest.raises(ValueError, match="oxidation_states=None"):
        check_oxidation_states(None)


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
