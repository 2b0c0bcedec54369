"""Hash-based splits: stable, disjoint under the leakage keys, de-duplicated."""

import pytest

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.splits import SPLITS, assign, dedupe_key, split_examples, split_key, unit_hash


def test_assignment_is_a_fixed_function_of_key_and_salt():
    # pinned values: a change here would reshuffle every user's splits
    assert unit_hash("XEKOWRVHYACXOJ-UHFFFAOYSA-N", 0) == pytest.approx(0.3282483913, abs=1e-9)
    assert [assign(f"key{i}") for i in range(6)] == [assign(f"key{i}") for i in range(6)]
    assert assign("a", salt=1) in SPLITS
    counts = {name: 0 for name in SPLITS}
    for i in range(3000):
        counts[assign(f"molecule-{i}")] += 1
    assert 0.77 < counts["train"] / 3000 < 0.83 and 0.08 < counts["test"] / 3000 < 0.12
    assert assign("x", fractions=(0.0, 0.0, 1.0)) == "test"
    with pytest.raises(ValueError):
        assign("x", fractions=(0.5, 0.5, 0.5))


def _disjoint(splits, key):
    seen = {}
    for name, rows in splits.items():
        for row in rows:
            assert seen.setdefault(key(row), name) == name, f"{key(row)} in {seen[key(row)]} and {name}"


def test_reactions_split_by_product_across_tasks():
    # many reactions that make the same product (spelled differently) stay together
    products = ["CC(=O)OCC", "CCOC(C)=O", "c1ccccc1N", "Nc1ccccc1", "CCN", "NCC", "CCCCO"]
    naming = [{"reaction": f"C{'C' * i}O.CC(=O)O>>{p}", "answer": "Acylation", "origin": str(i)} for i, p in enumerate(products * 20)]
    prediction = [{"reactants": f"C{'C' * i}O", "answer": p, "origin": str(i)} for i, p in enumerate(products * 20)]
    tally = Tally()
    by_naming = split_examples("rxn_naming", naming, salt=3, dropped=tally)
    by_prediction = split_examples("rxn_prediction", prediction, salt=3)
    _disjoint(by_naming, lambda r: r["split_key"])
    where = {r["split_key"]: name for name, rows in by_naming.items() for r in rows}
    assert all(where[r["split_key"]] == name for name, rows in by_prediction.items() for r in rows)
    assert len(where) == 4  # four distinct molecules
    assert tally.dropped["duplicate"] == len(naming) - sum(len(v) for v in by_naming.values())


def test_molecules_split_by_inchikey_and_dedupe_by_canonical_form():
    examples = [
        {"name": "phenol", "answer": "Oc1ccccc1", "origin": "a"},
        {"name": "hydroxybenzene", "answer": "OC1=CC=CC=C1", "origin": "b"},
        {"name": "ethanol", "answer": "CCO", "origin": "c"},
        {"name": "broken", "answer": "C1CC", "origin": "d"},
    ]
    tally = Tally()
    splits = split_examples("iupac_to_smiles", examples, dropped=tally)
    assert sum(len(v) for v in splits.values()) == 2
    assert tally.dropped == {"duplicate": 1, "no canonical form (invalid structure)": 1}
    spellings = [{"smiles": s, "answer": "Oc1ccccc1", "origin": s} for s in ("OC1=CC=CC=C1", "c1ccc(O)cc1", "c1ccccc1O")]
    canon = split_examples("canonicalization", spellings)
    assert sum(len(v) for v in canon.values()) == 3  # distinct spellings kept ...
    _disjoint(canon, lambda r: r["split_key"])  # ... in one split


def test_materials_split_by_chemical_system_one_request_per_set():
    """The request is the element set, so it is the split key: Na4Cl4 and NaCl in another
    space group are one request ("Cl-Na"), kept once."""
    examples = [
        {"elements": ["Na", "Cl"], "space_group": 225, "answer": "Na4Cl4", "origin": "a"},
        {"elements": ["Na", "Cl"], "space_group": 221, "answer": "NaCl", "origin": "b"},
        {"elements": ["Cl", "Na"], "space_group": 225, "answer": "Na2Cl6", "origin": "c"},
        {"elements": ["Mg", "O"], "space_group": 225, "answer": "MgO", "origin": "d"},
    ]
    splits = split_examples("cond_mat_gen", examples)
    kept = [r for rows in splits.values() for r in rows]
    assert [(r["origin"], r["split_key"]) for r in kept if r["split_key"] == "Cl-Na"] == [("a", "Cl-Na")]
    assert len(kept) == 2
    _disjoint(splits, lambda r: r["split_key"])


def test_substitutions_of_one_parent_share_its_split_and_so_does_their_element_set():
    """40 parents, each with two substitution variants, and a stray request whose element
    set equals one variant's: every component lands in one split, whatever its size."""
    examples = []
    for n in range(40):
        parent = f"parent{n}"
        examples += [{"elements": [f"X{n}", "O"], "answer": "", "origin": parent, "split_group": parent},
                     {"elements": [f"Y{n}", "O"], "answer": "", "origin": f"{parent}-sub1", "split_group": parent},
                     {"elements": [f"Z{n}", "O"], "answer": "", "origin": f"{parent}-sub2", "split_group": parent}]
    examples.append({"elements": ["Y7", "O", "S"], "answer": "", "origin": "stray", "split_group": "stray"})
    examples.append({"elements": ["O", "Y7"], "answer": "", "origin": "same set as parent7-sub1"})
    splits = split_examples("cond_mat_gen", examples, salt=3)
    where = {r["origin"]: name for name, rows in splits.items() for r in rows}
    for n in range(40):
        assert where[f"parent{n}"] == where[f"parent{n}-sub1"] == where[f"parent{n}-sub2"]
    assert "same set as parent7-sub1" not in where  # a duplicate request: dropped
    assert len({where[f"parent{n}"] for n in range(40)}) == 3  # the groups still spread over the splits
    _disjoint(splits, lambda r: r["split_key"])


def test_an_explicit_split_key_wins_and_mcq_uses_the_true_option():
    false = {"reaction": "CCO>>CCCl", "answer": "false", "split_key": "KEY"}
    assert split_key("rxn_true_false", false) == "KEY"
    mcq = {"options": ["CCO>>CC=O", "CC(=O)O.OCC>>CC(=O)OCC"], "answer": "B"}
    assert split_key("rxn_mcq", mcq) == split_key("rxn_prediction", {"answer": "CCOC(C)=O"})
    assert dedupe_key("rxn_mcq", mcq) == "CC(=O)O.CCO>>CCOC(C)=O"
