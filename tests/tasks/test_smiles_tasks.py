"""SMILES-answer tasks (reaction prediction, IUPAC->SMILES, canonicalization).

The expected values come from RDKit itself, computed here: canonical forms from
Chem.MolToSmiles, similarities from rdFingerprintGenerator Morgan fingerprints.
"""

import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from tasks_testkit import completion

from mist_pl.tasks import canonicalization as canon
from mist_pl.tasks import iupac_to_smiles as i2s
from mist_pl.tasks import rxn_prediction as rxp


def rdkit_canonical(smiles):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def rdkit_tanimoto(a, b):
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fa, fb = (generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in (a, b))
    return DataStructs.TanimotoSimilarity(fa, fb)


# ------------------------------------------------------------------ reaction prediction


def rxp_score(answer, gold="CC(=O)OCC"):
    (value,) = rxp.rxn_prediction_reward([completion(answer)], answer=[gold])
    return value


def test_rxp_any_spelling_of_the_product_is_correct():
    assert rdkit_canonical("CCOC(C)=O") == rdkit_canonical("CC(=O)OCC")  # the premise
    assert rxp_score("CCOC(C)=O") == rxp.CORRECT == 1.0
    assert rxp_score("[START_SMILES]O=C(OCC)C[END_SMILES]") == 1.0


def test_rxp_valid_but_wrong_and_invalid():
    assert rxp_score("CCO") == rxp.VALID_WRONG == -0.5
    for bad in ["C1CC", "not a smiles", "C(C", "", "Xx"]:
        assert rxp_score(bad) == rxp.INVALID == -1.0, bad


def test_rxp_text_after_the_smiles_is_invalid():
    assert Chem.MolFromSmiles("CC(=O)OCC is the ester") is not None  # RDKit alone would accept it
    assert rxp_score("CC(=O)OCC is the ester") == -1.0


def test_rxp_multi_component_product_order_does_not_matter():
    assert rxp_score("O.CC(=O)OCC", gold="CC(=O)OCC.O") == 1.0


def test_rxp_unparseable_gold_is_skipped():
    assert rxp.rxn_prediction_reward([completion("CCO")], answer=["C1CC"]) == [None]


def test_rxp_top1_and_prompt():
    example = {"reactants": "CC(=O)O.CCO", "answer": "CC(=O)OCC"}
    assert rxp.top1(completion("CCOC(C)=O"), example)
    assert not rxp.top1(completion("CCO"), example)
    assert "CC(=O)O.CCO" in rxp.build_prompt(example)


# ------------------------------------------------------------------ IUPAC -> SMILES


def i2s_score(answer, gold):
    (value,) = i2s.iupac_to_smiles_reward([completion(answer)], answer=[gold], name=["x"])
    return value


def test_i2s_exact_match():
    assert i2s_score("NCC(C)O", gold="CC(O)CN") == i2s.EXACT == 1.0


@pytest.mark.parametrize("answer, gold", [("CCCO", "CCO"), ("c1ccccc1O", "c1ccccc1N"), ("CC(C)CO", "CC(O)CN")])
def test_i2s_partial_credit_is_scaled_tanimoto(answer, gold):
    expected = i2s.PARTIAL_SCALE * rdkit_tanimoto(answer, gold)
    assert i2s_score(answer, gold) == pytest.approx(expected)
    assert 0.0 <= expected < i2s.EXACT


def test_i2s_stereoisomer_gets_partial_not_full_credit():
    assert rdkit_tanimoto("C[C@H](N)O", "C[C@@H](N)O") == 1.0  # fingerprints ignore chirality
    assert i2s_score("C[C@H](N)O", gold="C[C@@H](N)O") == pytest.approx(i2s.PARTIAL_SCALE)


def test_i2s_invalid():
    assert i2s_score("C1CC", gold="CCO") == i2s.INVALID == -1.0
    (value,) = i2s.iupac_to_smiles_reward(["no tags"], answer=["CCO"])
    assert value == -1.0


def test_i2s_top1_and_prompt():
    example = {"name": "1-aminopropan-2-ol", "answer": "CC(O)CN"}
    assert i2s.top1(completion("NCC(C)O"), example)
    assert not i2s.top1(completion("CCO"), example)
    assert "1-aminopropan-2-ol" in i2s.build_prompt(example)


# ------------------------------------------------------------------ canonicalization


def canon_score(answer, smiles):
    (value,) = canon.canonicalization_reward([completion(answer)], smiles=[smiles])
    return value


@pytest.mark.parametrize("source", ["OCC", "C(=O)(C)OCC", "C[N+](C)(C)CC(CC([O-])=O)OC(C)=O", "[H]OC([H])([H])C([H])([H])[H]"])
def test_canonicalization_exact_string(source):
    assert canon_score(rdkit_canonical(source), source) == canon.EXACT == 1.0


def test_canonicalization_same_molecule_other_string():
    assert rdkit_canonical("OCC") == "CCO"  # the premise: OCC is not canonical
    assert canon_score("OCC", "OCC") == canon.SAME_MOLECULE == 0.5


def test_canonicalization_wrong_molecule_and_invalid():
    assert canon_score("CCC", "OCC") == canon.WRONG_MOLECULE == 0.0
    assert canon_score("C(", "OCC") == canon.INVALID == -1.0
    assert canon_score("CCO extra", "OCC") == -1.0


def test_canonicalization_top1_and_prompt():
    example = {"smiles": "OCC", "answer": "CCO"}
    assert canon.top1(completion("CCO"), example)
    assert not canon.top1(completion("OCC"), example)
    assert "OCC" in canon.build_prompt(example)
