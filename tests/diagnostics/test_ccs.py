"""CCS statements from task files, wrong values, and the diagnostic on the tiny model."""

import pytest

from mist_pl.chem.smiles import canonicalize
from mist_pl.diagnostics.ccs import NO_WRONG_VALUE, run_ccs
from mist_pl.diagnostics.statements import (
    NAME,
    REACTION,
    SPACE_GROUP,
    attach_wrong_values,
    default_ccs_files,
    facts_from_file,
    load_facts,
    name_fact,
)

CRYSTALS = """serialized_cif formula Na 1_int Cl 1_int
space_group_symbol Fm-3m_sg
lattice_parameters a 5.69 b 5.69 c 5.69 alpha 90 beta 90 gamma 90
Na 4_int 0.0 0.0 0.0

serialized_cif formula Cs 1_int I 1_int
space_group_symbol Pm-3m_sg
lattice_parameters a 4.57 b 4.57 c 4.57 alpha 90 beta 90 gamma 90
Cs 1_int 0.0 0.0 0.0
"""


@pytest.fixture
def crystal_file(tmp_path):
    path = tmp_path / "src-crystals.txt"
    path.write_text(CRYSTALS)
    return path


@pytest.fixture
def reaction_files(tmp_path):
    (tmp_path / "src-test.txt").write_text("CCO.C\nCC.N\nCCC.O\n")
    (tmp_path / "tgt-test.txt").write_text("CCOC\nCCNC\nCCCO\n")
    return tmp_path / "src-test.txt"


def test_every_shipped_file_gives_facts():
    files = default_ccs_files()
    assert len(files) == 3
    kinds = {f.kind for path in files for f in facts_from_file(path)}
    assert kinds == {NAME, REACTION}


def test_space_group_and_reaction_facts(crystal_file, reaction_files):
    crystals = facts_from_file(crystal_file)
    assert [(f.prefix, f.value) for f in crystals] == [
        ("The crystal structure of NaCl has space group number", " 225"),
        ("The crystal structure of CsI has space group number", " 221"),
    ]
    reactions = facts_from_file(reaction_files)
    assert reactions[0].value == "CCOC" and "[START_SMILES]CCO.C[END_SMILES]" in reactions[0].prefix


def test_wrong_values_differ_and_are_reproducible(reaction_files, crystal_file):
    facts = load_facts([*default_ccs_files(), reaction_files, crystal_file])
    statements, unmatched = attach_wrong_values(facts, seed=0)
    assert not unmatched and len(statements) == len(facts)
    for s in statements:
        if s.fact.kind in (NAME, REACTION):
            assert canonicalize(s.wrong_value) != canonicalize(s.fact.value)
        else:
            assert s.wrong_value != s.fact.value
    again, _ = attach_wrong_values(facts, seed=0)
    other, _ = attach_wrong_values(facts, seed=1)
    assert [s.wrong_value for s in again] == [s.wrong_value for s in statements]
    assert [s.wrong_value for s in other] != [s.wrong_value for s in statements]


def test_limit_is_per_file(reaction_files, crystal_file):
    facts = load_facts([reaction_files, crystal_file], limit=1)
    assert sorted(f.kind for f in facts) == [REACTION, SPACE_GROUP]


def test_run_ccs_reports_kinds_and_unmatched(tiny_model, tokenizer, reaction_files, crystal_file):
    lonely = name_fact("ethanol", "CCO", "test:1")  # the only name: no wrong value exists
    facts = load_facts([reaction_files, crystal_file]) + [lonely]
    result = run_ccs(tiny_model, tokenizer, facts)
    counts = result.summary["counts"]
    assert counts == {"read": 6, "scored": 5, NO_WRONG_VALUE: 1}
    by_kind = result.summary["metrics"]["by_kind"]
    assert by_kind[REACTION]["n_pairs"] == 3 and by_kind[SPACE_GROUP]["n_pairs"] == 2
    assert "diagnostics/ccs/by_kind/reaction/superiority" in result.scalars()


def test_unknown_file_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError):
        facts_from_file(path)
