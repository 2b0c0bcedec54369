"""No-model baselines: each rule is judged by the task's own top-1, like a model, and the
numbers are what hand computation says."""

from __future__ import annotations

import json

import pytest

from mist_pl.eval.baselines import as_completion, best_baseline, main, score_baselines
from mist_pl.tasks import get_task
from mist_pl.tasks.rxn_naming import REACTION_CLASSES

REACTIONS = ["CC(=O)Cl.NCC>>CC(=O)NCC", "CCO>>CC=O", "c1ccccc1Br.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1"]


def balanced_rxn(per_class: int = 2) -> list[dict]:
    return [{"reaction": REACTIONS[i % 3], "answer": cls} for cls in REACTION_CLASSES for i in range(per_class)]


def by_name(scores):
    return {s.name.split(" ")[0]: s for s in scores}


def test_the_reference_answers_are_right_by_the_tasks_own_top1():
    """The format a rule writes is the one the task judges: answering with the example's own
    reference is right for every example (rxn_naming and cond_mat_gen, with a formula and
    space group turned into ``El El ... <sgN>``)."""
    examples = {
        "rxn_naming": balanced_rxn(1),
        "cond_mat_gen": [{"elements": ["Na", "Cl"], "answer": "Cl4Na4", "space_group": 225},
                         {"elements": ["Sr", "Ti", "O"], "answer": "Sr1Ti1O3", "space_group": 221}],
    }
    for name, rows in examples.items():
        task = get_task(name)
        assert all(task.top1(as_completion(task.reference_text(e)), e) for e in rows), name
    assert get_task("cond_mat_gen").reference_text(examples["cond_mat_gen"][0]) == "Cl Cl Cl Cl Na Na Na Na <sg225>"


def test_class_rules_on_a_balanced_set_sit_at_chance():
    test = balanced_rxn(2)
    train = [{"reaction": "CCO>>CC=O", "answer": "Reduction"}] * 3 + [{"reaction": "x>>y", "answer": "Protection"}]
    scores = by_name(score_baselines(get_task("rxn_naming"), test, train, seed=0))
    assert scores["most_frequent"].top1 == pytest.approx(0.1)  # always "Reduction": 2 of 20
    assert scores["best_fixed"].top1 == pytest.approx(0.1)  # every class is 1/10 of the set
    assert scores["copy_request"].top1 == 0.0 and scores["copy_request"].valid == 0.0  # a reaction is no class
    assert scores["random_valid"].valid == 1.0 and 0.0 <= scores["random_valid"].top1 <= 0.4
    assert best_baseline(list(scores.values())).top1 == pytest.approx(0.1)


def test_material_rules_copy_the_request_and_solve_the_charge_rule():
    test = [{"elements": ["Na", "Cl"], "answer": "Cl4Na4", "space_group": 225},   # 1:1 is right and the source
            {"elements": ["Ca", "F"], "answer": "Ca4F8", "space_group": 225},     # 1:1 fails; CaF2 is right
            {"elements": ["Sr", "Ti", "O"], "answer": "Sr1Ti1O3", "space_group": 221}]
    task = get_task("cond_mat_gen")
    assert task.baselines["copy_request"](test) == ["Cl Na <sg1>", "Ca F <sg1>", "O Sr Ti <sg1>"]
    solved = task.baselines["ratio_solver"](test)
    assert solved[0] == "Cl Na <sg1>" and solved[1] == "Ca F F <sg1>"
    scores = by_name(score_baselines(task, test))
    assert scores["ratio_solver"].top1 == 1.0  # the charge rule alone: every request solved
    assert scores["copy_request"].top1 == pytest.approx(1 / 3)  # NaCl only
    assert scores["copy_request"].metrics["source_top1"] == pytest.approx(1 / 3)
    # the stricter rate: the solver's smallest valid cell is the source's stoichiometry for
    # NaCl and CaF2, not for SrTiO3 (it finds a smaller one first)
    assert scores["ratio_solver"].metrics["source_top1"] == pytest.approx(2 / 3)
    assert task.baselines["random_counts"](test) == task.baselines["random_counts"](test)  # seeded


def test_the_command_prints_a_table_of_a_built_task_folder(tmp_path, capsys):
    folder = tmp_path / "rxn_naming"
    folder.mkdir()
    for split, rows in (("train", balanced_rxn(1)), ("test", balanced_rxn(2))):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps({**r, "task": "rxn_naming"}) + "\n" for r in rows))
    assert main([str(tmp_path), "--json", str(tmp_path / "scores.json")]) == 0
    table = capsys.readouterr().out
    assert "| rxn_naming | 20 |" in table and "10% [" in table
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert {s["name"].split(" ")[0] for s in saved["rxn_naming"]} == {"most_frequent", "random_valid", "copy_request",
                                                                       "best_fixed"}
