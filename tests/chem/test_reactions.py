from __future__ import annotations

import csv

from mist_pl.chem.reactions import (
    ReactionParse,
    canonicalize_reaction,
    is_valid_reaction,
    parse_reaction,
    reaction_problems,
    same_reaction,
    split_reaction,
)
from mist_pl.chem.smiles import canonicalize


def test_split_shapes():
    assert split_reaction("A.B>C>D") == ("A.B", "C", "D")
    assert split_reaction("A>>D") == ("A", "", "D")
    assert split_reaction("A>D") is None
    assert split_reaction("A>B>C>D") is None
    assert split_reaction("CCO>>CC |f:0.1|") == ("CCO", "", "CC")
    assert split_reaction("CCO>>CC and more words") is None
    assert split_reaction(None) is None


def test_mapped_reaction_is_canonicalized():
    mapped = "[CH3:1][C:2](=[O:3])[Cl:4].[OH:5][CH2:6][CH3:7]>ClCCl>[CH3:1][C:2](=[O:3])[O:5][CH2:6][CH3:7]"
    expected = ".".join(sorted([canonicalize("CC(=O)Cl"), canonicalize("OCC")])) + ">ClCCl>" + canonicalize("CCOC(C)=O")
    assert canonicalize_reaction(mapped) == expected
    assert canonicalize_reaction("OCC.ClC(C)=O>ClCCl>O=C(C)OCC") == expected


def test_agents_can_be_folded_into_reactants():
    parsed = parse_reaction("CCO.CC(=O)O>[H+]>CCOC(C)=O")
    assert isinstance(parsed, ReactionParse)
    assert parsed.agents == ("[H+]",)
    assert parsed.smiles(keep_agents=False) == "CC(=O)O.CCO.[H+]>>CCOC(C)=O"
    assert same_reaction("CCO.CC(=O)O>[H+]>CCOC(C)=O", "[H+].OCC.OC(C)=O>>O=C(OCC)C")


def test_invalid_reactions():
    for bad in ["C1CC>>CC", "CC>>", ">>CC", "CC", "CC>>C..C", "", "C>>>C"]:
        assert canonicalize_reaction(bad) is None, bad
        assert not is_valid_reaction(bad)
        assert reaction_problems(bad), bad
    assert "invalid reactant SMILES: 'C1CC'" in reaction_problems("C1CC>>CC")
    assert reaction_problems("CC>>CC") == []


def test_fixture_reactions_parse(demo_data):
    with open(demo_data / "reactions/rxn_truefalse_sample.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(canonicalize_reaction(row["reaction"]) is not None for row in rows)
    with open(demo_data / "reactions/rxn_inversion_sample.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # the "fakes" of this toy set are mostly reorderings of the true reaction, which the
    # canonical form must recognise; none differs from the true reaction in all three
    reorderings = [any(same_reaction(row["true_reaction"], row[k]) for k in ("fake1", "fake2", "fake3")) for row in rows]
    assert sum(reorderings) >= 0.9 * len(rows)
    assert same_reaction("CC(=O)O.CCO>>CC(=O)OCC", "CCO.CC(=O)O>>CC(=O)OCC")
    assert not same_reaction("CC(=O)O.CCO>>CC(=O)OCC", "CC(=O)OCC>>CC(=O)O.CCO")
