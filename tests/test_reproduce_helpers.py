"""Pure helpers of bench/reproduce_mist.py (the benchmark itself is not run here)."""

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from mist_pl.eval.stats import mean_ci, newcombe_interval, welch_interval, wilson_interval

_PATH = Path(__file__).resolve().parents[1] / "bench" / "reproduce_mist.py"
_spec = importlib.util.spec_from_file_location("reproduce_mist", _PATH)
rm = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("reproduce_mist", rm)  # dataclasses look their module up here
_spec.loader.exec_module(rm)


def test_wilson_interval_known_values_and_edges():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    lo, hi = wilson_interval(0, 10)  # zero hits: a non-degenerate upper bound, unlike Wald
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.7225, abs=1e-3)
    assert wilson_interval(0, 0) == (None, None)


def test_mean_ci_t_based_and_degenerate_cases():
    s = mean_ci([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / 3**0.5  # t(0.975, 2 df)
    assert s["mean"] == 2.0 and s["lo"] == pytest.approx(2 - half, abs=1e-3) and s["hi"] == pytest.approx(2 + half, abs=1e-3)
    assert mean_ci([0.5, None, float("nan")]) == {"mean": 0.5, "lo": None, "hi": None, "n": 1}
    assert mean_ci([])["mean"] is None


def test_welch_interval_against_a_hand_computation():
    a, b = [0.0, 0.2, 0.1, 0.3], [0.5, 0.7, 0.6, 0.4]
    lo, hi = welch_interval(a, b)
    # equal variances (0.01667) and sizes: df = 6, t = 2.447, se = sqrt(2 * 0.01667 / 4)
    half = 2.447 * (2 * 0.016667 / 4) ** 0.5
    assert (lo + hi) / 2 == pytest.approx(0.4) and hi - lo == pytest.approx(2 * half, abs=1e-3)
    assert welch_interval([1.0], b) == (None, None)
    assert welch_interval([1.0, 1.0], [2.0, 2.0]) == (1.0, 1.0)


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80, method 10 -> 0.0524 to 0.3339.
    lo, hi = newcombe_interval(48, 80, 56, 70)
    assert (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    assert newcombe_interval(0, 10, 0, 10)[0] < 0 < newcombe_interval(0, 10, 0, 10)[1]
    assert newcombe_interval(0, 0, 1, 2) == (None, None)


def test_two_seeds_show_their_values_not_a_t_interval():
    two = rm.seed_values([0.2, 0.4])
    assert two["mean"] == pytest.approx(0.3) and two["lo"] is None
    assert rm.fmt_mean(two, percent=True) == "30% (20, 40)"
    four = rm.seed_values([0.2, 0.4, 0.3, 0.3])
    assert four["lo"] < 0.3 < four["hi"]  # from four seeds on, the t interval
    change = rm.pooled_change(rm.pooled_rate([(0.0, 50)]), rm.pooled_rate([(0.3, 50)]))
    assert change["mean"] == pytest.approx(0.3) and 0 < change["lo"] < 0.3 < change["hi"]


def test_report_rejudges_saved_completions_with_current_rules(tmp_path):
    from mist_pl.tasks.registry import get_task

    task = get_task("rxn_naming")
    reactions = [("CC(=O)Cl.NCC>>CC(=O)NCC", "Acylation"), ("CCO.CC(=O)O>>CCOC(C)=O", "Protection")]
    folder = tmp_path / "tasks" / "rxn_naming"
    folder.mkdir(parents=True)
    examples = [{"task": "rxn_naming", "reaction": r, "answer": a} for r, a in reactions]
    (folder / "test.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    budget = rm.Budget(eval_examples=2)
    from mist_pl.stages import evaluation_examples

    ordered = evaluation_examples(tmp_path / "tasks", "rxn_naming", 2)
    # Saved as measured: example 0 right, example 1 an empty answer; the file claims both right.
    completions = [f"<think>x</think><answer>{ordered[0]['answer']}</answer>", "<think>x</think><answer></answer>"]
    measure_file = tmp_path / "seed0" / "A" / "before.json"
    measure_file.parent.mkdir(parents=True)
    rows = [{"mode": "greedy", "index": i, "prompt": task.build_prompt(e), "completion": c}
            for i, (e, c) in enumerate(zip(ordered, completions))]
    rows += [{"mode": "sample", "index": i, "prompt": task.build_prompt(ordered[i]), "completion": c}
             for i, c in ((0, "<think>x</think><answer>Reduction</answer>"),
                          (1, f"<think>x</think><answer>{ordered[1]['answer']}</answer>"))]
    samples = rm.samples_path(measure_file, "rxn_naming")
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = {"before": {"top1_rxn_naming": 1.0, "valid_rxn_naming": 1.0, "passk_rxn_naming": 0.0},
           "before_file": str(measure_file)}
    rm.rejudge(run, {"rxn_naming": ordered}.__getitem__, budget)
    assert run["before"]["top1_rxn_naming"] == 0.5 and run["before"]["valid_rxn_naming"] == 0.5
    assert run["before"]["passk_rxn_naming"] == 0.5  # one sample each: example 0 wrong, example 1 right
    assert run["before"]["as_run"] == {"top1_rxn_naming": 1.0, "valid_rxn_naming": 1.0, "passk_rxn_naming": 0.0}

    rows[0]["prompt"] = "another question"  # a file measured on other examples is refused
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SystemExit, match="was not measured on the example"):
        rm.rejudge({"before": {}, "before_file": str(measure_file)}, {"rxn_naming": ordered}.__getitem__, budget)


def test_pooled_rate_sums_hits_over_seeds_and_formats():
    s = rm.pooled_rate([(0.5, 4), (0.25, 4), (None, 4)])
    assert (s["hits"], s["n"]) == (3, 8) and s["rate"] == 3 / 8
    assert s["lo"] < 3 / 8 < s["hi"]
    assert rm.fmt_rate({"rate": 0.25, "lo": 0.1, "hi": 0.5}) == "25% [10, 50]"
    assert rm.fmt_rate({"rate": None}) == "-"
    assert rm.fmt_mean({"mean": 0.3, "lo": None, "hi": None}) == "+0.30"
    assert rm.fmt_mean({"mean": 0.3, "lo": 0.1, "hi": 0.5}, percent=True) == "30% [10, 50]"
    assert rm.curve_mean([[(0, 1.0), (1, 2.0)], [(0, 3.0)]]) == [(0, 2.0)]
    assert rm.markdown_table(["a", "b"], [["1", "2"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def _run(arm, seed, zero_variance, top1_after):
    before = {"scs_d": 0.1, "ls_d_rxn_naming": 0.1 * (1 + seed), "ls_top1_rxn_naming": 0.2 if arm == "B" else 0.1,
              "passk_cond_mat_gen": 0.1, "n_rxn_naming": 10, "n_cond_mat_gen": 10}
    for task in rm.TASKS:
        before.update({f"top1_{task}": 0.1, f"valid_{task}": 0.5})
    after = dict(before, **{f"top1_{task}": top1_after for task in rm.TASKS})
    learning = {t: {"zero_variance_frac": zero_variance, "reward": {"rise": 0.1}, "curves": {}} for t in rm.TASKS}
    return {"arm": arm, "seed": seed, "before": before, "after": after, "learning": learning}


def test_summarize_report_and_expectations():
    runs = [_run("A", 0, 1.0, 0.1), _run("A", 1, 0.8, 0.1), _run("Ap", 0, 0.6, 0.2), _run("Ap", 1, 0.6, 0.2),
            _run("B", 0, 0.2, 0.5), _run("B", 1, 0.2, 0.6)]
    summary = rm.summarize(runs)
    assert summary["A"]["rxn_naming"]["zero_variance"]["mean"] == pytest.approx(0.9)
    assert summary["B"]["rxn_naming"]["top1_after"]["n"] == 20
    assert summary["B"]["rxn_naming"]["lift"]["mean"] == pytest.approx(0.45)
    report = rm.format_report(summary, rm.Budget.quick())
    assert report.count("| rxn_naming |") == 3 and report.count("| cond_mat_gen |") == 3
    checks = rm.expectations(summary)
    assert any("B/A LS rank" in line and "2.00x" in line and "holds" in line for line in checks)
    assert any("zero-variance share B 20%" in line and "holds" in line for line in checks)
    one_arm = rm.summarize(runs[:2])
    assert rm.expectations(one_arm) == ["(not every arm has finished: no comparison)"]


def test_finished_runs_keep_only_this_budget_from_every_seed_folder(tmp_path):
    budget, other = rm.Budget(), rm.Budget(grpo_steps=99)
    for seed, arm, b in ((1, "A", budget), (0, "B", budget), (0, "A", budget), (0, "Ap", budget), (2, "A", other)):
        folder = tmp_path / f"seed{seed}" / arm
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"seed": seed, "arm": arm, "budget": asdict(b)}))
    runs = rm.finished_runs(tmp_path, budget)
    assert [(r["seed"], r["arm"]) for r in runs] == [(0, "A"), (0, "Ap"), (0, "B"), (1, "A")]


def test_layout_sft_keeps_prompts_and_hides_the_answer_mapping(tmp_path):
    tasks = tmp_path / "tasks"
    rows = {
        "rxn_naming": [("CC(=O)Cl.NCC>>CC(=O)NCC", "Acylation"), ("O=[N+]([O-])c1ccccc1>>Nc1ccccc1", "Reduction")],
        "cond_mat_gen": [(["Na", "Cl"], "Na4Cl4"), (["Mg", "O"], "Mg4O4")],
    }
    from mist_pl.tasks.traces import sft_completion

    for task, items in rows.items():
        (tasks / task).mkdir(parents=True)
        lines = []
        for x, answer in items:
            example = ({"reaction": x, "answer": answer} if task == "rxn_naming"
                       else {"elements": x, "answer": answer, "space_group": 225})
            lines.append(json.dumps({**example, "prompt": f"question {x}", "completion": sft_completion(task, example)}))
        (tasks / task / "sft_train.jsonl").write_text("\n".join(lines) + "\n")
    b = rm.Budget(sft_rxn_examples=2, sft_cmg_examples=2)
    paths = rm.write_sft_sets(tasks, tmp_path / "out", b)
    chem = [json.loads(x) for x in (tmp_path / "out" / "sft" / "chemistry.jsonl").read_text().splitlines()]
    layout = [json.loads(x) for x in (tmp_path / "out" / "sft" / "layout.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in chem] == [r["prompt"] for r in layout]  # the same questions
    # Each layout answer is another example's: Acylation's reaction is answered Reduction.
    assert layout[0]["completion"].endswith("<answer>Reduction</answer>")
    assert layout[1]["completion"].endswith("<answer>Acylation</answer>")
    assert rm.LAYOUT_THINK["rxn_naming"] in layout[0]["completion"] and "Bonds" not in layout[0]["completion"]
    assert "Mg Mg Mg Mg O O O O <sg225>" in layout[2]["completion"]
    assert set(paths) == {"layout", "chemistry"} and all(p.exists() for p in paths.values())


def test_stage_overrides_follow_the_budget(tmp_path):
    b = rm.Budget()
    cpt, sft, grpo = rm.stages(b, tmp_path, seed=3, sft_mixtures={"layout": tmp_path / "l", "chemistry": tmp_path / "c"})
    assert cpt.overrides[cpt.overrides.index("--model.init_args.optim.lr") + 1] == "0.0001"
    assert cpt.overrides[cpt.overrides.index("--data.init_args.seq_len") + 1] == "256"
    assert set(sft) == {"Ap", "B"}
    for arm, name in (("Ap", "l"), ("B", "c")):
        o = sft[arm].overrides
        assert o[o.index("--data.init_args.mixture") + 1].endswith(name)
        assert o[o.index("--trainer.max_steps") + 1] == str(b.sft_steps) == "50"
    g = grpo["rxn_naming"].overrides
    assert g[g.index("--model.init_args.grpo.micro_batch_size") + 1] == str(b.grpo_prompts * b.grpo_group)
    assert g[g.index("--data.init_args.batch_size") + 1] == str(b.grpo_prompts)
