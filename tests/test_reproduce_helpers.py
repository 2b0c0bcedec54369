"""Pure helpers of bench/reproduce_mist.py (the benchmark itself is not run here)."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "reproduce_mist.py"
_spec = importlib.util.spec_from_file_location("reproduce_mist", _PATH)
rm = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("reproduce_mist", rm)  # dataclasses look their module up here
_spec.loader.exec_module(rm)


def test_wilson_interval_known_values_and_edges():
    lo, hi = rm.wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    lo, hi = rm.wilson_interval(0, 10)  # zero hits: a non-degenerate upper bound, unlike Wald
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = rm.wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.7225, abs=1e-3)
    assert rm.wilson_interval(0, 0) == (None, None)


def test_mean_ci_t_based_and_degenerate_cases():
    s = rm.mean_ci([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)
    assert s["mean"] == 2.0 and s["lo"] == pytest.approx(2 - half) and s["hi"] == pytest.approx(2 + half)
    assert rm.mean_ci([0.5, None, float("nan")]) == {"mean": 0.5, "lo": None, "hi": None, "n": 1}
    assert rm.mean_ci([])["mean"] is None
    assert rm.t_quantile_975(100) == 1.96


def test_pooled_top1_sums_hits_over_seeds():
    s = rm.pooled_top1([(0.5, 4), (0.25, 4), (None, 4)])
    assert (s["hits"], s["n"]) == (3, 8) and s["top1"] == 3 / 8
    assert s["lo"] < 3 / 8 < s["hi"]


def test_fmt_ci_and_curve_mean_and_table():
    assert rm.fmt_ci({"mean": 0.25, "lo": 0.1, "hi": 0.5}, percent=True) == "25% [10, 50]"
    assert rm.fmt_ci({"mean": 0.3, "lo": None, "hi": None}) == "+0.30"
    assert rm.fmt_ci({"top1": None}, True, "top1") == "-"
    assert rm.curve_mean([[(0, 1.0), (1, 2.0)], [(0, 3.0)]]) == [(0, 2.0)]
    assert rm.curve_mean([]) == []
    table = rm.markdown_table(["a", "b"], [["1", "2"]]).splitlines()
    assert table == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_summarize_and_report_shape():
    def run(arm, seed, zv):
        m = {"ls_rxn_naming": 0.1 * seed, "ls_cond_mat_gen": 0.0, "top1_rxn_naming": 0.5,
             "n_rxn_naming": 2, "top1_cond_mat_gen": 0.0, "n_cond_mat_gen": 1}
        curves = {t: {"reward": [(0, 0.1)], "accuracy": [], "zero_variance_frac": [(0, zv), (1, zv)]}
                  for t in rm.TASKS}
        return {"arm": arm, "seed": seed, "before": m, "after": m, "curves": curves}

    summary = rm.summarize([run("A", 0, 1.0), run("A", 1, 0.5), run("B", 0, 0.0)])
    assert summary["A"]["rxn_naming"]["zero_variance_frac"]["mean"] == 0.75
    assert summary["A"]["rxn_naming"]["top1_before"]["n"] == 4
    assert summary["B"]["cond_mat_gen"]["zero_variance_frac"]["lo"] is None  # one seed: no CI
    report = rm.format_report(summary, rm.Budget.quick())
    assert report.count("| rxn_naming |") == 2 and report.count("| cond_mat_gen |") == 2


def test_finished_runs_keep_only_this_budget_from_every_seed_folder(tmp_path):
    import json
    from dataclasses import asdict

    budget, other = rm.Budget(), rm.Budget(grpo_steps=99)
    for seed, arm, b in ((1, "A", budget), (0, "B", budget), (0, "A", budget), (2, "A", other)):
        folder = tmp_path / f"seed{seed}" / arm
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"seed": seed, "arm": arm, "budget": asdict(b)}))
    runs = rm.finished_runs(tmp_path, budget)
    assert [(r["seed"], r["arm"]) for r in runs] == [(0, "A"), (0, "B"), (1, "A")]


def test_stage_overrides_follow_the_budget(tmp_path):
    cpt, sft, grpo = rm.stages(rm.Budget(), tmp_path, seed=3)
    assert cpt.overrides[cpt.overrides.index("--model.init_args.optim.lr") + 1] == "0.0001"
    assert cpt.overrides[cpt.overrides.index("--data.init_args.seq_len") + 1] == "256"
    g = grpo["rxn_naming"].overrides
    # P prompts x G completions in one micro-batch, and the data batch follows P
    assert g[g.index("--model.init_args.grpo.micro_batch_size") + 1] == str(2 * rm.GRPO_GROUP_SIZE)
    assert g[g.index("--data.init_args.batch_size") + 1] == "2"
    quick_cpt, _, quick_grpo = rm.stages(rm.Budget.quick(), tmp_path, seed=3)
    assert "--model.init_args.optim.lr" not in quick_cpt.overrides  # the tiny configs' own rates
    assert "--data.init_args.batch_size" not in quick_grpo["cond_mat_gen"].overrides
