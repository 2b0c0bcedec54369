from __future__ import annotations

from rdkit import Chem

from mist_pl.chem.rdkit_quiet import quiet_rdkit
from mist_pl.chem.tags import (
    CIF_END,
    CIF_START,
    SMILES_END,
    SMILES_START,
    find_cifs,
    find_smiles,
    strip_tags,
    wrap_cif,
    wrap_smiles,
)


def test_tag_strings_are_the_data_format():
    assert (SMILES_START, SMILES_END, CIF_START, CIF_END) == (
        "[START_SMILES]", "[END_SMILES]", "[START_CIF]", "[END_CIF]")


def test_wrap_and_find_round_trip():
    cif = "data_x\n_cell_length_a 1"
    text = f"a {wrap_smiles(' CCO ')} b {wrap_smiles('c1ccccc1')} {wrap_cif(cif)}"
    assert find_smiles(text) == ["CCO", "c1ccccc1"]
    assert find_cifs(text) == ["data_x\n_cell_length_a 1"]
    assert SMILES_START not in strip_tags(text)
    assert find_smiles(None) == []


def test_quiet_rdkit_captures_instead_of_printing(capfd):
    with quiet_rdkit(capture=True) as messages:
        assert Chem.MolFromSmiles("C1CC") is None
    assert any("unclosed ring" in line for line in messages.lines)
    assert not messages.lines[0].startswith("[")  # timestamp removed
    with quiet_rdkit():
        Chem.MolFromSmiles("c1cc")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
