"""Curated reaction templates and the synthetic top-up of thin rxn_naming classes.

Only the first MOLECULES lines of RDKit's NCI file are used (the results are cached
per template, so the whole module pays for them once): enough for every template
to fire, and quick.
"""

import json
from collections import Counter

import pytest
from rdkit.Chem import rdChemReactions

from mist_pl.chem.reactions import canonicalize_reaction, parse_reaction
from mist_pl.tasks.build import main
from mist_pl.tasks.rxn_naming import REACTION_CLASSES
from mist_pl.tasks.sources import template_fill
from mist_pl.tasks.sources.template_fill import (
    apply_template,
    fill_thin_classes,
    shortfall,
    synthetic_counts,
    template_reactions,
)
from mist_pl.tasks.sources.templates import TEMPLATES, template_class, templates_for

MOLECULES = 800


def fill(examples, target, seed=0, policy="miscellaneous"):
    return fill_thin_classes(examples, target, seed, policy, molecule_limit=MOLECULES)


def test_every_class_has_at_least_two_templates():
    for label in REACTION_CLASSES:
        assert len(templates_for(label)) >= 2, label
    assert all(template_class(t) in REACTION_CLASSES for t in TEMPLATES)
    assert len({t.name for t in TEMPLATES}) == len(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_each_template_makes_valid_reactions_from_shipped_molecules(template):
    made = template_reactions(template, MOLECULES)
    assert made, f"{template.name} made nothing from the first {MOLECULES} NCI molecules"
    for reaction in made[:20]:
        assert rdChemReactions.ReactionFromSmarts(reaction.reaction, useSmiles=True) is not None
        parsed = parse_reaction(reaction.reaction)
        assert parsed is not None and len(parsed.products) == 1
        assert parsed.products[0] not in parsed.reactants  # the template changed something
        assert canonicalize_reaction(reaction.reaction) == reaction.reaction  # written canonical
        assert reaction.molecule_origin.startswith("rdkit:NCI/first_5K.smi:")


def test_templates_respect_their_chemistry():
    by_name = {t.name: t for t in TEMPLATES}
    amide = apply_template(by_name["amide_from_acyl_chloride"], "NCc1ccccc1")
    assert amide is not None and amide.endswith(">>CC(=O)NCc1ccccc1")
    assert apply_template(by_name["amide_from_acyl_chloride"], "CC(=O)NC") is None  # an amide is not acylated again
    assert apply_template(by_name["nitro_to_amine"], "O=[N+]([O-])c1ccccc1").endswith(">>Nc1ccccc1")
    # two different sites: no selectivity argument, so no reaction
    assert apply_template(by_name["nitro_to_amine"], "Cc1ccc([N+](=O)[O-])cc1[N+](=O)[O-]") is None


def _real(label, n, start=0):
    return [{"reaction": f"C{'C' * (i + start)}O>>C{'C' * (i + start)}=O", "answer": label, "origin": f"real:{i}", "source": "real"} for i in range(n)]


def test_fill_only_tops_up_thin_classes_and_marks_rows():
    examples = _real("Acylation", 5) + _real("Reduction", 2, start=10)
    before = [dict(e) for e in examples]
    added = fill(examples, 5)
    assert examples == before  # real rows untouched
    counts = Counter(e["answer"] for e in examples + added)
    assert all(counts[label] == 5 for label in REACTION_CLASSES)
    assert synthetic_counts(added).get("Acylation") is None and synthetic_counts(added)["Reduction"] == 3
    assert all(r["synthetic"] is True and r["source"] == "template" for r in added)
    names = {t.name for t in TEMPLATES}
    assert all(r["origin"].split("|")[0].removeprefix("template:") in names for r in added)
    # templates take turns inside a class
    acyl_free = fill([], 3)
    assert len({r["origin"].split("|")[0] for r in acyl_free if r["answer"] == "Acylation"}) == 3
    assert fill(examples, 0) == []


def test_fill_skips_a_template_reaction_already_present_as_real():
    first = fill([], 1)
    copy = [{**row, "synthetic": False, "source": "real"} for row in first if row["answer"] == "Reduction"]
    added = fill(copy, 2)
    reductions = [r for r in added if r["answer"] == "Reduction"]
    assert len(reductions) == 1 and reductions[0]["reaction"] != copy[0]["reaction"]


def test_fill_is_deterministic_by_seed():
    assert fill([], 4, seed=1) == fill([], 4, seed=1)
    assert fill([], 4, seed=1) != fill([], 4, seed=2)


def test_oxidation_templates_follow_the_policy():
    assert len(templates_for("Miscellaneous", "drop")) == 0
    added = fill([], 2, policy="drop")
    assert "Miscellaneous" not in synthetic_counts(added)
    assert shortfall(added, 2) == {"Miscellaneous": 2}


def test_build_flag_fills_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(template_fill, "template_reactions", lambda t, limit=None: template_reactions(t, MOLECULES))
    out = tmp_path / "naming"
    # The shipped sample has 60 real reactions per class: 64 tops every class up by a few.
    assert main(["--task", "rxn_naming", "--out", str(out), "--fill-thin-classes", "64", "--no-sft"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    fill_summary = summary["fill_thin_classes"]
    assert fill_summary["target"] == 64 and not fill_summary["still_short"]
    assert sum(sum(v.values()) for v in summary["synthetic"].values()) <= sum(fill_summary["added"].values())
    rows = [json.loads(line) for split in ("train", "validation", "test") for line in (out / f"{split}.jsonl").open()]
    synthetic = [r for r in rows if r.get("synthetic")]
    assert synthetic and all(r["origin"].startswith("template:") for r in synthetic)
    assert "synthetic (templates" in capsys.readouterr().out
    # off by default: no synthetic rows, no fill summary
    assert main(["--task", "rxn_naming", "--out", str(tmp_path / "plain"), "--no-sft"]) == 0
    assert "fill_thin_classes" not in json.loads((tmp_path / "plain" / "summary.json").read_text())
