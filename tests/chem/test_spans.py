from __future__ import annotations

import pytest

from mist_pl.chem.spans import is_candidate, tag_smiles, tag_smiles_spans, trim_token
from mist_pl.chem.tags import SMILES_END, SMILES_START, find_smiles


def test_valid_smiles_in_a_sentence_are_tagged():
    result = tag_smiles_spans("Aspirin, CC(=O)Oc1ccccc1C(=O)O, is an NSAID.")
    assert result.text == f"Aspirin, {SMILES_START}CC(=O)Oc1ccccc1C(=O)O{SMILES_END}, is an NSAID."
    assert (result.n_tagged, result.n_rejected) == (1, 0)


def test_invalid_candidates_are_left_as_text_and_counted():
    text = "The ring c1cccc1 is broken and so is C(C)(C)(C)(C)C, while [Na+].[Cl-] is fine."
    result = tag_smiles_spans(text)
    assert result.n_tagged == 1 and result.n_rejected == 2
    assert set(result.rejected) == {"c1cccc1", "C(C)(C)(C)(C)C"}
    assert "c1cccc1 is broken" in result.text
    assert find_smiles(result.text) == ["[Na+].[Cl-]"]


def test_english_words_and_bond_notation_are_not_candidates():
    text = "The Cat sat on CO. I saw NO and PCC. The C=O stretch; C-C coupling; NBS; Nature."
    result = tag_smiles_spans(text)
    assert result.text == text
    assert result.n_tagged == 0 and result.n_rejected == 0


def test_parentheses_quotes_and_punctuation_are_trimmed():
    result = tag_smiles_spans('Butane (CCCC), "OCCN", and toluene: Cc1ccccc1.')
    assert find_smiles(result.text) == ["CCCC", "OCCN", "Cc1ccccc1"]
    assert result.text.endswith(f"{SMILES_START}Cc1ccccc1{SMILES_END}.")
    assert trim_token("(CC(=O)O).") == (1, 8)


def test_already_tagged_spans_are_not_tagged_again():
    once = tag_smiles_spans("First CC(=O)O then c1ccccc1 and [START_SMILES]CCO[END_SMILES].")
    assert once.n_tagged == 2 and once.n_already_tagged == 1
    twice = tag_smiles_spans(once.text)
    assert twice.text == once.text
    assert twice.n_tagged == 0 and twice.n_already_tagged == 3
    assert once.text.count(SMILES_START) == 3


def test_cif_blocks_are_copied_through():
    text = "[START_CIF]\ndata_x\n_atom_site C1 CCCC\n[END_CIF] then CCCC"
    result = tag_smiles_spans(text)
    assert result.text.startswith("[START_CIF]\ndata_x\n_atom_site C1 CCCC\n[END_CIF]")
    assert result.n_tagged == 1 and result.n_already_tagged == 1


def test_canonical_option_rewrites_the_tagged_span():
    result = tag_smiles_spans("ethanol is OCC(C)C here", canonical=True)
    assert find_smiles(result.text) == ["CC(C)CO"]


@pytest.mark.parametrize(
    ("token", "expected"),
    [("CCO", False), ("CCCO", True), ("C1CC1", True), ("[Na+]", True), ("O=C=O", True), ("C=O", False),
     ("Cat", False), ("1990", False), ("[1]", False), ("[START_SMILES]", False), ("cocoon", False)],
)
def test_candidate_heuristic(token, expected):
    assert is_candidate(token) is expected


def test_min_plain_atoms_can_be_lowered():
    assert tag_smiles_spans("plain CCO here", min_plain_atoms=3).n_tagged == 1


def test_tag_smiles_record_pipeline():
    assert tag_smiles("OCC") == f"{SMILES_START}CCO{SMILES_END}"
    assert tag_smiles("OCC", canonical=False) == f"{SMILES_START}OCC{SMILES_END}"
    assert tag_smiles("C1CC") is None
    assert tag_smiles(None) is None


def test_non_string_input_gives_empty_result():
    assert tag_smiles_spans(None).text == ""
