"""SMILES corruption: the stated number of structural characters, reproducible by seed."""

import math
from collections import Counter

import pytest

from mist_pl.diagnostics.corruption import CORRUPTIBLE, corrupt_smiles, deletion_count

MOLECULES = [
    "CC1=CC(=O)C=CC1=O",
    "OC(=O)C1=C(C=CC=C1)C2=C3C=CC(=O)C(=C3OC4=C2C=CC(=C4Br)O)Br",
    "[O-][N+](=O)C1=CNC(=N)S1",
    "CC(C)O",
    "c1ccccc1",
]


@pytest.mark.parametrize("n, expected", [(1, 1), (4, 1), (5, 1), (9, 1), (10, 2), (14, 2), (15, 3), (33, 6)])
def test_deletion_count(n, expected):
    assert deletion_count(n) == expected == max(1, math.floor(0.2 * n))


@pytest.mark.parametrize("smiles", MOLECULES)
def test_deletes_the_stated_number_of_structural_characters_only(smiles):
    n = sum(ch in CORRUPTIBLE for ch in smiles)
    result = corrupt_smiles(smiles, seed=3)
    removed = Counter(smiles) - Counter(result.text)
    assert result.n_corruptible == n
    assert sum(removed.values()) == result.n_deleted == max(1, math.floor(0.2 * n))
    assert set(removed) <= CORRUPTIBLE
    assert len(result.text) == len(smiles) - result.n_deleted
    # Everything else is kept, in order.
    assert [c for c in result.text if c not in CORRUPTIBLE] == [c for c in smiles if c not in CORRUPTIBLE]
    assert all(smiles[i] in CORRUPTIBLE for i in result.deleted_positions)


def test_reproducible_by_seed_and_independent_of_call_order():
    first = [corrupt_smiles(s, seed=7).text for s in MOLECULES]
    again = [corrupt_smiles(s, seed=7).text for s in reversed(MOLECULES)][::-1]
    assert first == again
    long = MOLECULES[1]
    variants = {corrupt_smiles(long, seed=s).text for s in range(10)}
    assert len(variants) > 1  # the seed matters


def test_nothing_to_corrupt_gives_none():
    assert corrupt_smiles("CCO", seed=0) is None
    assert corrupt_smiles("", seed=0) is None


def test_fraction_is_validated():
    with pytest.raises(ValueError):
        corrupt_smiles("C1CC1", fraction=0)
