"""The default charge-balance rule judged both ways on the reference set of
:mod:`mist_pl.chem.charge_reference`: real compounds valid, impossible ones invalid."""

from __future__ import annotations

import random
import time

import pytest
from pymatgen.core import Composition

from mist_pl.chem import charge_balance
from mist_pl.chem.charge_balance import is_charge_balanced
from mist_pl.chem.charge_reference import (
    IMPOSSIBLE_COMPOUNDS,
    TEXTBOOK_COMPOUNDS,
    real_compounds,
    textbook_compounds,
)

ISSUE_REAL = ["InP", "SiC", "NbO", "GaN", "Fe3O4", "MgNiF6", "BN", "AlN", "GaAs", "SiO2", "Si3N4", "WC", "TiC",
              "Co3O4", "Mn3O4", "LiMn2O4", "Pb3O4", "KMnO4", "K2Cr2O7", "CaC2", "Na2O2", "NaNO3", "CH3NH3PbI3"]
ISSUE_IMPOSSIBLE = ["SrTiO8", "YO2", "NaCl3", "LaO2", "ZnO2", "Nd2O5"]


@pytest.fixture(scope="module")
def reference():
    return real_compounds()


def test_the_reference_set_is_what_it_says(reference):
    sizes = {group: len(items) for group, items in reference.items()}
    assert sizes["pymatgen"] >= 240 and sizes["mist_demo"] == 10 and sizes["textbook"] >= 550
    assert sizes["experimental"] >= 2000  # pymatgen's measured formation enthalpies
    formulas = [formula for formula, _ in textbook_compounds()]
    assert len(formulas) == len(set(formulas)) == sum(len(group) for group in TEXTBOOK_COMPOUNDS.values())
    assert set(ISSUE_REAL) <= set(formulas) and set(ISSUE_IMPOSSIBLE) <= set(IMPOSSIBLE_COMPOUNDS)
    assert not set(formulas) & set(IMPOSSIBLE_COMPOUNDS)
    assert all(len(composition) >= 2 for items in reference.values() for _, composition in items)


def test_real_compounds_are_valid_and_impossible_ones_are_not(reference, capsys):
    lines, accepted, total = [], 0, 0
    for group, items in reference.items():
        missed = [name for name, composition in items if not is_charge_balanced(composition)]
        accepted += len(items) - len(missed)
        total += len(items)
        lines.append(f"  {group}: {len(items) - len(missed)}/{len(items)} valid; missed: {', '.join(missed) or '-'}")
    rejected = [formula for formula in IMPOSSIBLE_COMPOUNDS if not is_charge_balanced(formula)]
    real_rate, impossible_rate = accepted / total, len(rejected) / len(IMPOSSIBLE_COMPOUNDS)
    with capsys.disabled():
        print(f"\ncharge balance ({charge_balance.DEFAULT_OXIDATION_STATES}): real compounds judged valid "
              f"{accepted}/{total} = {real_rate:.2%}; impossible compositions judged invalid "
              f"{len(rejected)}/{len(IMPOSSIBLE_COMPOUNDS)} = {impossible_rate:.0%}")
        print("\n".join(lines))
    assert real_rate >= 0.98
    assert impossible_rate == 1.0, sorted(set(IMPOSSIBLE_COMPOUNDS) - set(rejected))
    assert all(is_charge_balanced(formula) for formula in ISSUE_REAL)


def test_a_call_costs_well_under_a_few_milliseconds(reference, capsys):
    compositions = [composition for items in reference.values() for _, composition in items]
    charge_balance._ranked.cache_clear()
    start = time.perf_counter()
    for composition in compositions:
        is_charge_balanced(composition)
    fresh = (time.perf_counter() - start) / len(compositions)
    start = time.perf_counter()
    for composition in compositions:
        is_charge_balanced(composition)
    cached = (time.perf_counter() - start) / len(compositions)
    with capsys.disabled():
        print(f"\ncharge balance: {1e3 * fresh:.2f} ms per new composition, {1e3 * cached:.2f} ms cached "
              f"({len(compositions)} compositions)")
    assert fresh < 5e-3  # measured ~0.3 ms; generous for a busy machine


# 67 common elements; random compositions of 2-4 of them, 1-6 atoms each (seeded).
COMMON = """H Li B C N O F Na Mg Al Si P S Cl K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Rb Sr Y Zr Nb
    Mo Ru Rh Pd Ag Cd In Sn Sb Te I Cs Ba La Ce Nd Sm Gd Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi U""".split()


def _random_compositions(n: int = 3000, seed: int = 0) -> list[Composition]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        symbols = rng.sample(COMMON, rng.choice([2, 2, 3, 3, 4]))
        out.append(Composition({symbol: rng.randint(1, 6) for symbol in symbols}))
    return out


def test_how_often_random_ionic_compositions_pass(capsys):
    """Not a requirement, a measure of strictness: random compositions with O or a halogen
    that each rule calls balanced. The ranked rule sits between the fixed cut and SMACT's default."""
    ionic = [c for c in _random_compositions() if any(el.symbol in {"O", "F", "Cl", "Br", "I"} for el in c)]
    rates = {name: sum(is_charge_balanced(c, oxidation_states=name) for c in ionic) / len(ionic)
             for name in ("icsd24_ranked", "icsd24_medium", "icsd24_low")}
    with capsys.disabled():
        print(f"\nrandom compositions with O or a halogen judged valid ({len(ionic)}): "
              + ", ".join(f"{name} {rate:.1%}" for name, rate in rates.items()))
    assert rates["icsd24_medium"] < rates["icsd24_ranked"] < rates["icsd24_low"]
