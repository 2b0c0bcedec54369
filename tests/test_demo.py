"""The demo's helpers and the stage pieces it shares with bench/reproduce_mist.py (no
pipeline run: `make demo` does that)."""

import math
from pathlib import Path

import pytest
import yaml

from mist_pl import demo, stages


def test_format_table_rows_columns_and_missing_values():
    rows = {
        "base": {"scs_d": 0.3, "ls_d_rxn_naming": -0.11, "valid_rxn_naming": 0.0, "top1_rxn_naming": 0.0,
                 "n_rxn_naming": 50, "valid_cond_mat_gen": None, "top1_cond_mat_gen": None},
        "grpo": {"scs_d": 1.234, "ls_d_rxn_naming": float("nan"), "valid_rxn_naming": 0.96, "top1_rxn_naming": 0.2,
                 "n_rxn_naming": 50, "valid_cond_mat_gen": 0.5, "top1_cond_mat_gen": 1.0, "n_cond_mat_gen": 10,
                 "source_top1_cond_mat_gen": 0.3, "correct_cond_mat_gen": [True] * 10},
    }
    lines = stages.format_table(rows).splitlines()
    assert lines[0].split()[0] == "stage" and "LS_d rxn" in lines[0] and "cmg top-1" in lines[0]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["base", "+0.30", "-0.11", "0%", "0%", "[0,", "7]", "-", "-", "-"]
    assert lines[3].split() == ["grpo", "+1.23", "-", "96%", "20%", "[11,", "33]", "50%", "100%", "[72,", "100]",
                                "30%", "[11,", "60]"]  # the further rate's interval uses the task's n
    assert len({len(line) for line in lines}) == 1  # aligned


def test_format_value():
    assert stages.format_value(None) == "-"
    assert stages.format_value(math.nan) == "-"
    assert stages.format_value(0.5, percent=True) == "50%"


def test_format_timings_total():
    text = stages.format_timings([stages.Timing("cpt", 61.2, "a"), stages.Timing("sft", 30.0, "b")])
    assert text.splitlines()[-1].split() == ["total", "91"]


def test_quick_budget_is_smaller():
    full, quick = demo.Budget(), demo.Budget.quick()
    assert quick.cpt_steps <= full.cpt_steps and quick.grpo_rxn_steps <= full.grpo_rxn_steps
    assert quick.eval_examples < full.eval_examples


def test_evaluation_examples_are_class_balanced_and_distinct_requests(tmp_path):
    import json
    from collections import Counter

    folder = tmp_path / "rxn_naming"
    folder.mkdir()
    rows = [{"reaction": f"C{i}>>CC", "answer": "Reduction" if i < 8 else "Acylation"} for i in range(10)]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    picked = stages.evaluation_examples(tmp_path, "rxn_naming", 4)
    assert Counter(e["answer"] for e in picked) == {"Reduction": 2, "Acylation": 2}  # not the first four
    folder = tmp_path / "cond_mat_gen"
    folder.mkdir()
    rows = [{"elements": ["Na", "Cl"], "answer": "NaCl"}, {"elements": ["Cl", "Na"], "answer": "Na2Cl2"},
            {"elements": ["Mg", "O"], "answer": "MgO"}]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [e["answer"] for e in stages.evaluation_examples(tmp_path, "cond_mat_gen", 2)] == ["NaCl", "MgO"]


def test_sft_mixture_uses_task_traces(tmp_path):
    path = demo.sft_mixture(tmp_path / "tasks", tmp_path / "sft" / "mixture.yaml")
    mixture = yaml.safe_load(path.read_text())
    names = [s["name"] for s in mixture["sources"]]
    assert "rxn_naming" not in names  # the shipped examples overlap the demo's test split
    assert {"rxn_naming_traces", "cond_mat_gen_traces"} <= set(names)
    traces = next(s for s in mixture["sources"] if s["name"] == "rxn_naming_traces")
    assert traces["path"].endswith("rxn_naming/sft_train.jsonl") and traces["transform"] == {"kind": "chat"}
    weights = {s["name"]: s["weight"] for s in mixture["sources"]}
    assert weights["rxn_naming_traces"] == demo.SFT_TASK_SHARES["rxn_naming"]
    auxiliary = sum(w for name, w in weights.items() if not name.endswith("_traces"))
    assert auxiliary == pytest.approx(demo.AUXILIARY_SFT_SHARE, abs=1e-3)


def test_help_runs(capsys):
    import pytest

    with pytest.raises(SystemExit):
        demo.main(["--help"])
    assert "--quick" in capsys.readouterr().out


def test_pipeline_order_prepares_the_mix_before_cpt(tmp_path):
    names = [name for name, _ in demo.plan(demo.Demo(tmp_path, demo.Budget.quick()))]
    assert names == ["tasks", "prepare", "measure base", "cpt", "measure cpt", "sft", "measure sft",
                     "grpo_rxn_naming", "grpo_cond_mat_gen", "measure grpo"]


def results_with(**changes):
    rows = {"base": {"scs_d": 0.0}, "cpt": {"scs_d": 0.5},
            "sft": {"valid_rxn_naming": 0.95, "correct_rxn_naming": [False] * 40},
            "grpo": {"top1_rxn_naming": 0.5, "n_rxn_naming": 40, "correct_rxn_naming": [True] * 20 + [False] * 20,
                     "top1_cond_mat_gen": 0.9, "n_cond_mat_gen": 40}}
    results = {"rows": rows,
               "baselines": {"rxn_naming": [{"name": "best_fixed", "top1": 0.1}],
                             "cond_mat_gen": [{"name": "ratio_solver", "top1": 1.0}]},
               "grpo": {"rxn_naming": {"reward": {"rise_lo": 0.05}}, "cond_mat_gen": {"reward": {"rise_lo": -0.1}}}}
    results.update(changes)
    return results


def test_claims_are_judged_on_the_numbers():
    judged = demo.conclusions(results_with())
    assert judged == {"cpt_scs": True, "sft_layout": True, "grpo_cmg_learns": False, "grpo_rxn_learns": True,
                      "rxn_above_rules": True, "cmg_above_rules": False}
    worse = results_with(baselines={"rxn_naming": [{"name": "copy", "top1": 0.45}], "cond_mat_gen": []})
    assert demo.conclusions(worse)["rxn_above_rules"] is False  # Wilson lower bound of 20/40 is 0.35
    change = demo.changes(results_with()["rows"])["rxn_naming"]
    assert change["change"] == 0.5 and 0.3 < change["lo"] < 0.5 < change["hi"] and change["n"] == 40


def test_publish_copies_the_results_and_completions(tmp_path):
    run = tmp_path / "run"
    (run / "diagnostics").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "diagnostics" / "sft_rxn_naming_samples.jsonl.gz").write_bytes(b"x")
    target = tmp_path / "published"
    target.mkdir()
    (target / "stale_samples.jsonl.gz").write_bytes(b"old")
    demo.publish(run, target)
    assert sorted(p.name for p in target.iterdir()) == ["results.json", "sft_rxn_naming_samples.jsonl.gz"]


PUBLISHED = Path(__file__).resolve().parents[1] / "bench" / "results" / "demo"


def test_the_readme_states_what_the_published_demo_run_supports():
    """The README's claims about the demo are the ones its published run supports: judged
    again here from bench/results/demo/results.json (the machine it ran on is recorded
    there), so a claim cannot outlive the numbers behind it."""
    import json

    results = json.loads((PUBLISHED / "results.json").read_text())
    judged = demo.conclusions(results)
    assert judged == results["conclusions"]
    readme = (PUBLISHED.parents[2] / "README.md").read_text()
    for name, statement, _ in demo.CLAIMS:
        assert f"[{'holds' if judged[name] else 'does not hold'}] {statement}" in readme, name
    assert {"cpu", "torch_cpu_capability", "native_bf16"} <= set(results["machine"])


def test_the_published_verdicts_follow_from_the_saved_completions():
    """Every greedy verdict in the published table is judged again from the saved
    completions and their examples with today's rules: the files alone carry the result."""
    import gzip
    import json

    from mist_pl.tasks.registry import get_task

    results = json.loads((PUBLISHED / "results.json").read_text())
    checked = 0
    for stage, row in results["rows"].items():
        for task in stages.TASKS:
            path = PUBLISHED / f"{stage}_{task}_samples.jsonl.gz"
            samples = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
            greedy = [s for s in samples if s["mode"] == "greedy"]
            verdicts = [bool(get_task(task).top1(s["completion"], s["example"])) for s in greedy]
            assert verdicts == row[f"correct_{task}"], (stage, task)
            assert sum(verdicts) / len(verdicts) == pytest.approx(row[f"top1_{task}"])
            checked += len(verdicts)
    assert checked >= 4 * 2 * 40
