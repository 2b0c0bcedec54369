"""Reading raw reaction files, class mapping, the clean reaction pool and corruptions."""

import random

import pytest
from build_testkit import MAPPED, write_raw_dir

from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.rxn_naming import REACTION_CLASSES
from mist_pl.tasks.sources import reaction_classes as rc
from mist_pl.tasks.sources.layout import MissingInput
from mist_pl.tasks.sources.raw_reactions import (
    RawReaction,
    ord_reaction_from_row,
    read_ord_reactions,
    read_rxn_insight,
    read_schneider,
)
from mist_pl.tasks.sources.reaction_examples import (
    KINDS,
    corrupt,
    differs,
    mcq_examples,
    naming_examples,
    true_false_examples,
    unique_reactions,
)
from mist_pl.tasks.sources.reaction_pool import normalize, normalize_all

EXPECTED_SUPERCLASS = {
    "1.7.9": "Heteroatom Alkylation and Arylation",
    "2.1.1": "Acylation",
    "3.1.1": "C-C Coupling",
    "4.1.1": "Aromatic Heterocycle Formation",
    "5.1.1": "Protection",
    "6.1.5": "Deprotection",
    "7.1.1": "Reduction",
    "9.1.6": "Functional Group Interconversion",
    "10.1.1": "Functional Group Addition",
    "11.1": "Miscellaneous",
    "12": "Miscellaneous",
}


@pytest.mark.parametrize("schneider_id,expected", sorted(EXPECTED_SUPERCLASS.items()))
def test_every_schneider_superclass_maps_to_its_mist_class(schneider_id, expected):
    for policy in rc.OXIDATION_POLICIES:
        assert rc.from_schneider(schneider_id, policy) == expected


def test_oxidation_follows_the_policy_and_junk_maps_to_nothing():
    assert rc.from_schneider("8.1.5") == "Miscellaneous"  # the default policy
    assert rc.from_schneider("8.2.1", "oxidation") == "Oxidation"
    assert rc.from_schneider("8.1.4", "drop") is None
    assert rc.from_rxn_insight("Oxidation", "miscellaneous") == "Miscellaneous"
    assert rc.from_rxn_insight("oxidation", "drop") is None
    for junk in ("13.1.1", "0", "x.1", "", None):
        assert rc.from_schneider(junk) is None
    with pytest.raises(ValueError):
        rc.from_schneider("1.2.1", "sometimes")
    covered = {rc.from_schneider(str(i)) for i in range(1, 13)}
    assert covered == set(REACTION_CLASSES)  # the table reaches every one of the ten


@pytest.mark.parametrize("label", REACTION_CLASSES)
def test_rxn_insight_labels_are_the_ten_classes(label):
    assert rc.from_rxn_insight(label) == label
    assert rc.from_rxn_insight(label.upper()) == label


def test_readers_count_malformed_rows_and_name_missing_files(tmp_path):
    raw = write_raw_dir(tmp_path / "raw")
    tally = Tally()
    rows = list(read_schneider(raw / "drfp" / "schneider50k.tsv", tally))
    assert len(rows) == len(MAPPED) + 1 and all(r.mapped for r in rows)
    assert tally.dropped["row lacks a required field"] == 1  # the row with no class
    insight = list(read_rxn_insight(raw / "rxn_insight" / "1000rxns.gzip", tally))
    assert [r.mapped for r in insight] == [False, True]
    ord_rows = list(read_ord_reactions(raw / "orderly" / "reactions", tally))
    assert len(ord_rows) == 2 and tally.dropped["ORD reaction without reactants or products"] == 1
    assert ord_rows[1].reaction == "c1ccccc1Br.NCC>[Pd]>CCNc1ccccc1"
    assert ord_reaction_from_row({"reactant_000": "<missing>", "product_000": "C"}) is None
    with pytest.raises(MissingInput, match="nowhere.tsv"):
        list(read_schneider(tmp_path / "nowhere.tsv", tally))


def test_pool_separates_reactants_from_agents_and_labels_them(tmp_path):
    raw = write_raw_dir(tmp_path / "raw")
    tally = Tally()
    pool = list(normalize_all(read_schneider(raw / "drfp" / "schneider50k.tsv", tally), tally))
    assert tally.dropped["invalid or unmapped atom-mapped reaction"] == 1  # "C1CC>>CC"
    acylation = pool[0]
    assert acylation.reactants == ("CC(=O)Cl", "CCN") and acylation.agents == ("ClCCl",)
    assert acylation.product == "CCNC(C)=O" and acylation.label == "Acylation"
    assert acylation.with_agents == "CC(=O)Cl.CCN.ClCCl>>CCNC(C)=O"
    boc = pool[2]
    assert boc.reactants == ("CC(C)(C)OC(=O)NCCO",) and boc.label == "Deprotection"
    assert [r.label for r in pool] == ["Acylation", "Heteroatom Alkylation and Arylation", "Deprotection", "Miscellaneous", "Reduction", "C-C Coupling"]
    same = normalize(RawReaction("CCO>>CCO", "x", "t"), tally)
    assert same is None and tally.dropped["product is also a reactant"] == 1


def _pool():
    tally = Tally()
    rows = [RawReaction(rxn, f"row{i}", "schneider50k", cls, mapped=True) for i, (rxn, cls) in enumerate(MAPPED)]
    return list(normalize_all(rows, tally))


def test_corruptions_differ_from_the_truth_canonically():
    pool = _pool()
    rng = random.Random(0)
    seen_kinds = set()
    for reaction in pool:
        fakes = corrupt(reaction, pool, rng)
        for kind, fake in fakes.items():
            seen_kinds.add(kind)
            assert differs(reaction.transformation, fake)
            assert canonicalize_reaction(fake, keep_agents=False) != canonicalize_reaction(reaction.transformation, keep_agents=False)
        assert fakes["swapped_sides"].startswith(reaction.product + ">>")
        if len(reaction.reactants) < 2:
            assert "dropped_reactant" not in fakes
    assert seen_kinds == set(KINDS)
    # a product respelled is not a corruption
    assert not differs("CC(=O)O.OCC>>CCOC(C)=O", "OCC.CC(=O)O>>CC(=O)OCC")
    assert not differs("CCO>>CC=O", "not a reaction")


def test_reaction_task_examples_from_one_pool():
    pool = unique_reactions(_pool() + _pool(), Tally())
    assert len(pool) == len(MAPPED)
    tally = Tally()
    naming = naming_examples(pool, tally, cap_per_class=None, seed=0)
    assert {e["answer"] for e in naming} == {"Acylation", "Heteroatom Alkylation and Arylation", "Deprotection", "Miscellaneous", "Reduction", "C-C Coupling"}
    capped = naming_examples(pool + pool, Tally(), cap_per_class=1, seed=0)
    assert len(capped) == len(naming)
    mcq = mcq_examples(pool, tally, seed=0, fractions=(1.0, 0.0, 0.0))
    for example in mcq:
        assert example["option_kinds"].count("true") == 1 and len(example["options"]) >= 2
        truth = example["options"][example["option_kinds"].index("true")]
        assert example["answer"] == "ABCD"[example["options"].index(truth)]
    tf = true_false_examples(pool, tally, seed=0, fractions=(1.0, 0.0, 0.0))
    assert sum(e["answer"] == "true" for e in tf) == sum(e["answer"] == "false" for e in tf) == len(pool)
    assert {e["corruption"] for e in tf if e["answer"] == "false"} == set(KINDS)
    truths = {e["split_key"]: e["reaction"] for e in tf if e["answer"] == "true"}
    assert all(differs(truths[e["split_key"]], e["reaction"]) for e in tf if e["answer"] == "false")


def test_rxn_insight_labels_mapped_reactions_offline():
    from mist_pl.tasks.sources.rxn_insight_labels import label_with_rxn_insight, rxn_insight_unavailable

    reason = rxn_insight_unavailable()
    if reason:
        pytest.skip(reason)
    assert label_with_rxn_insight(MAPPED[0][0]) == "Acylation"
    assert rc.from_rxn_insight(label_with_rxn_insight(MAPPED[4][0])) == "Reduction"
    assert label_with_rxn_insight("not a reaction") is None
