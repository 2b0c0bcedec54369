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
    assert summary["B"]["rxn_naming"]["lift"]["paired"] is False  # no saved verdicts: the unpaired interval
    assert summary["B"]["rxn_naming"]["lift_seeds"]["values"] == pytest.approx([0.4, 0.5])
    report = rm.format_report(summary, rm.Budget.quick(), {"rxn_naming": 0.1, "cond_mat_gen": 1.0})
    assert report.count("| rxn_naming |") == 3 and report.count("| cond_mat_gen |") == 3
    checks = rm.expectations(summary, {"rxn_naming": 0.1, "cond_mat_gen": 1.0})
    assert any("B/A 2.00x, B/A' 2.00x" in line and "holds" in line for line in checks)
    assert any("zero-variance share B 20%" in line and "holds" in line for line in checks)
    # B's pooled 11/20 after RL: Wilson lower bound 34%, above a 10% rule, below a 100% one.
    assert any(line.startswith("rxn_naming: B after RL") and line.endswith("holds.") for line in checks)
    assert any(line.startswith("cond_mat_gen: B after RL") and "does not hold" in line for line in checks)
    one_arm = rm.summarize(runs[:2])
    assert rm.expectations(one_arm) == ["(B and at least one control must finish: no comparison)"]


def test_expectations_compare_b_with_the_controls_that_ran_and_one_seed_uses_the_paired_interval():
    # The SmolLM2 check: B and A' only, one seed. The lift has no seed interval, so B's and
    # A''s paired intervals over examples are compared (here apart: 0/10 -> 10/10 vs none).
    runs = [_run("Ap", 0, 0.6, 0.1), _run("B", 0, 0.2, 1.0)]
    for run in runs:
        for task in rm.TASKS:
            n = 10
            run["before"][f"correct_{task}"] = [i == 0 for i in range(n)]
            run["after"][f"correct_{task}"] = ([True] * n if run["arm"] == "B" else [i == 0 for i in range(n)])
    checks = rm.expectations(rm.summarize(runs), {"rxn_naming": 0.1})
    assert not any("B/A " in line or "A 0%" in line for line in checks)  # A did not run: not compared
    assert any("B/A' 2.00x (expected >= 1.5x): holds" in line for line in checks)
    assert any("zero-variance share B 20% vs A' 60% (expected well below): holds" in line for line in checks)
    lift = [line for line in checks if line.startswith("rxn_naming: top-1 lift")]
    assert lift and "one seed, paired 95% over examples" in lift[0] and lift[0].endswith("(expected larger for B, "
                                                                                          "intervals apart): holds.")
    runs[1]["after"]["correct_rxn_naming"] = [i < 2 for i in range(10)]  # 1/10 -> 2/10: not apart from A''s 0
    runs[1]["after"]["top1_rxn_naming"] = 0.2
    lift = [line for line in rm.expectations(rm.summarize(runs)) if line.startswith("rxn_naming: top-1 lift")]
    assert lift[0].endswith("not shown.")


def test_the_top1_change_is_paired_over_seed_and_example():
    runs = []
    for seed, (before, after) in enumerate((([1, 0, 0, 0], [1, 1, 0, 0]), ([0, 0, 1, 0], [0, 1, 1, 1]))):
        run = _run("B", seed, 0.2, sum(after) / 4)
        for task in rm.TASKS:
            run["before"].update({f"top1_{task}": sum(before) / 4, f"correct_{task}": [bool(x) for x in before],
                                  f"n_{task}": 4})
            run["after"].update({f"correct_{task}": [bool(x) for x in after], f"n_{task}": 4})
        runs.append(run)
    lift = rm.paired_change(runs, "rxn_naming")
    from mist_pl.eval.stats import paired_interval

    pairs_before = [True, False, False, False, False, False, True, False]
    pairs_after = [True, True, False, False, False, True, True, True]
    assert lift["paired"] and lift["mean"] == pytest.approx(3 / 8)
    assert (lift["lo"], lift["hi"]) == pytest.approx(paired_interval(pairs_before, pairs_after))
    assert lift["lo"] > rm.pooled_change(rm.pooled_rate([(2 / 8, 8)]), rm.pooled_rate([(5 / 8, 8)]))["lo"]


def test_finished_runs_keep_only_this_budget_from_every_seed_folder(tmp_path):
    budget, other = rm.Budget(), rm.Budget(grpo_steps=99)
    for seed, arm, b in ((1, "A", budget), (0, "B", budget), (0, "A", budget), (0, "Ap", budget), (2, "A", other)):
        folder = tmp_path / f"seed{seed}" / arm
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"seed": seed, "arm": arm, "budget": asdict(b)}))
    runs = rm.finished_runs(tmp_path, budget)
    assert [(r["seed"], r["arm"]) for r in runs] == [(0, "A"), (0, "Ap"), (0, "B"), (1, "A")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The reproduction's task data (the demo's build: 600 shipped reactions, pymatgen's
    crystals), one seed's SFT sets and CPT mixture."""
    root = tmp_path_factory.mktemp("reproduce")
    rm.build_tasks(root / "tasks")
    b = rm.Budget()
    paths = rm.write_sft_sets(root / "tasks", root, b, seed=0)
    rm.write_cpt_mixture(root / "tasks", root, seed=0)
    return root, b, paths


def _rows(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def test_layout_sft_answers_are_well_formed_and_carry_no_chemistry(built):
    from mist_pl.tasks.cond_mat_gen import answer_counts, requested_elements
    from mist_pl.tasks.registry import get_task

    root, b, paths = built
    chem, layout = _rows(paths["chemistry"].with_suffix(".jsonl")), _rows(paths["layout"].with_suffix(".jsonl"))
    assert sorted(r["prompt"] for r in chem) == sorted(r["prompt"] for r in layout)  # the same questions
    assert len(layout) == b.sft_rxn_examples + b.sft_cmg_examples
    train = {t: {e["prompt"]: e for e in _rows(root / "tasks" / t / "train.jsonl")} for t in rm.TASKS}
    right = {t: [0, 0] for t in rm.TASKS}
    counts_seen = set()
    for row in layout:
        task = get_task(row["task"])
        example = train[row["task"]][row["prompt"]]
        assert rm.LAYOUT_THINK[row["task"]] in row["completion"] and "Bond" not in row["completion"]
        assert task.valid(row["completion"], example), row["completion"]  # well-formed, in the task's answer set
        right[row["task"]][0] += bool(task.top1(row["completion"], example))
        right[row["task"]][1] += 1
        if row["task"] == "cond_mat_gen":  # the requested elements, random counts
            counts = answer_counts(row["completion"].rpartition("<answer>")[2].removesuffix("</answer>"))
            assert set(counts) == set(requested_elements(example))
            counts_seen.add(tuple(sorted(counts.values())))
    # A random class is right about one time in ten (380 draws: 95% within 5-15%).
    hits, n = right["rxn_naming"]
    assert 0.05 <= hits / n <= 0.15, hits / n
    assert len(counts_seen) > 10  # counts are drawn, not copied from a rule
    # B's rows are the chemistry traces: every one right.
    for row in chem:
        assert get_task(row["task"]).top1(row["completion"], train[row["task"]][row["prompt"]])


def test_a_seed_changes_the_mid_stage_data_order_answers_and_initialisation(built, tmp_path):
    root, b, paths = built
    other = rm.write_sft_sets(root / "tasks", tmp_path, b, seed=1)
    for name in ("layout", "chemistry"):
        first, second = _rows(paths[name].with_suffix(".jsonl")), _rows(other[name].with_suffix(".jsonl"))
        assert [r["prompt"] for r in first] != [r["prompt"] for r in second]  # another order
        assert sorted(r["prompt"] for r in first) == sorted(r["prompt"] for r in second)  # the same questions
    answers = [{r["prompt"]: r["completion"] for r in _rows(p["layout"].with_suffix(".jsonl"))} for p in (paths, other)]
    assert sum(answers[0][k] != answers[1][k] for k in answers[0]) > len(answers[0]) // 2
    cpt = [json.loads((d / "cpt" / f"seed{s}.yaml").read_text()) for d, s in ((root, 0), (rm.write_cpt_mixture(
        root / "tasks", tmp_path, 1).parents[1], 1))]
    assert cpt[0]["seed"] != cpt[1]["seed"]
    from safetensors.torch import load_file

    w0, w1 = (load_file(rm.base_model("tiny", tmp_path, s) / "model.safetensors") for s in (0, 1))
    assert any(not (w0[k] == w1[k]).all() for k in w0)  # each seed its own initialisation
    again = load_file(rm.base_model("tiny", tmp_path / "again", 0) / "model.safetensors")
    assert all((w0[k] == again[k]).all() for k in w0)  # and the same seed the same one


def test_no_stage_holds_a_test_reaction_product_or_element_set(built):
    root, _, _ = built
    texts = list(rm.stage_texts(root / "tasks", root, 0))
    where = {w.split(" ")[0] + " " + w.split(" ")[1] for w, _ in texts}
    # Every stage is read: CPT sources (the synthetic corpus included), both SFT sets, GRPO prompts.
    assert {"cpt rxn_naming_text", "cpt cond_mat_gen_text", "cpt nci_molecules", "sft layout", "sft chemistry",
            "grpo rxn_naming", "grpo cond_mat_gen"} <= where
    assert rm.text_leaks(texts, rm.held_out_keys(root / "tasks")) == []


def test_the_leak_check_finds_what_it_looks_for(built):
    from mist_pl.data.task_examples import read_jsonl

    root, _, _ = built
    keys = rm.held_out_keys(root / "tasks")
    reactions, _ = read_jsonl(root / "tasks" / "rxn_naming" / "test.jsonl")
    reaction = reactions[0]["reaction"]
    reactants, _, products = reaction.partition(">>")
    respelled = ".".join(reversed(reactants.split("."))) + ">>" + products  # another spelling, same reaction
    product = sorted(keys["products"])[0]
    elements = sorted(next(iter(keys["element_sets"])))
    planted = [
        ("reaction", f"Reaction: {respelled}\nClass: Reduction."),
        ("product", f"Consider the structure [START_SMILES]{product}[END_SMILES], whose formula is"),
        ("cell", "Its cell: " + " ".join(elements) + " <sg12>"),
        ("request", "Given the following elements: " + ", ".join(elements) + ". Propose one"),
        ("clean", "Reaction: CCO.CC(=O)O>>CCOC(C)=O\nClass: Protection."),
    ]
    assert "CCOC(C)=O" not in keys["products"]
    found = rm.text_leaks(planted, keys)
    assert {f.split(":")[0] for f in found} == {"reaction", "product", "cell", "request"}, found


def test_the_cpt_mix_holds_the_synthetic_corpus_and_no_shipped_crystals(built):
    root, _, _ = built
    mixture = json.loads((root / "cpt" / "seed0.yaml").read_text())
    corpora = {s["corpus"] for s in mixture["sources"]}
    assert "pymatgen_structures" not in corpora  # the material requests come from those crystals
    text = [s for s in mixture["sources"] if s["corpus"] == "task_text"]
    assert {s["options"]["task"] for s in text} == set(rm.TASKS)
    assert all(s["options"]["path"].endswith("train.jsonl") for s in text)


def test_stage_overrides_follow_the_budget(tmp_path):
    b = rm.Budget()
    cpt, sft, grpo = rm.stages(b, tmp_path, seed=3, sft_mixtures={"layout": tmp_path / "l", "chemistry": tmp_path / "c"},
                               cpt_mixture=tmp_path / "m.yaml")
    assert cpt.overrides[cpt.overrides.index("--model.init_args.optim.lr") + 1] == "0.002"
    assert cpt.overrides[cpt.overrides.index("--data.init_args.mixture") + 1] == str(tmp_path / "m.yaml")
    assert cpt.overrides[cpt.overrides.index("--seed_everything") + 1] == "3"
    assert set(sft) == {"Ap", "B"}
    # 720 examples, two passes, 2 rows of ~2.5 packed examples per step
    assert b.sft_steps == 288
    for arm, name in (("Ap", "l"), ("B", "c")):
        o = sft[arm].overrides
        assert o[o.index("--data.init_args.mixture") + 1].endswith(name)
        assert o[o.index("--trainer.max_steps") + 1] == str(b.sft_steps)
        assert o[o.index("--data.init_args.pack") + 1] == "true"
    g = grpo["rxn_naming"].overrides
    assert g[g.index("--trainer.max_steps") + 1] == "50" and g[g.index("--model.init_args.grpo.num_generations") + 1] == "8"
    assert g[g.index("--model.init_args.grpo.micro_batch_size") + 1] == str(b.grpo_prompts * b.grpo_group)
    assert g[g.index("--data.init_args.batch_size") + 1] == str(b.grpo_prompts)
    assert g[g.index("--model.init_args.grpo.beta") + 1] == "0.0"  # as the published runs: no reference model
    _, _, kl = rm.stages(rm.Budget(grpo_beta=0.04), tmp_path, seed=3, sft_mixtures={"layout": tmp_path, "chemistry": tmp_path},
                         cpt_mixture=tmp_path / "m.yaml")
    assert all(s.overrides[s.overrides.index("--model.init_args.grpo.beta") + 1] == "0.04" for s in kl.values())
    smol = rm.Budget.smollm2()
    assert smol.engine == "vllm" and smol.base == "smollm2-135m" and smol.sft_steps == 50

def test_the_evaluation_sets_have_ten_reactions_per_class_and_distinct_requests(built):
    from collections import Counter

    from mist_pl.stages import evaluation_examples

    root, b, _ = built
    reactions = evaluation_examples(root / "tasks", "rxn_naming", b.eval_examples)
    assert len(reactions) == 100 and set(Counter(e["answer"] for e in reactions).values()) == {10}
    requests = evaluation_examples(root / "tasks", "cond_mat_gen", b.eval_examples)
    assert len(requests) == 100 and len({tuple(sorted(e["elements"])) for e in requests}) == 100


@pytest.mark.parametrize("model, beta, seeds, arms", [
    ("tiny", 0.0, 3, set(rm.ARMS)), ("smollm2", 0.0, 1, {"Ap", "B"}),
    ("tiny", 0.04, 3, {"Ap", "B"}), ("smollm2", 0.04, 1, {"Ap", "B"}),  # the KL runs
])
def test_the_published_report_is_rebuilt_from_its_saved_completions_alone(tmp_path, model, beta, seeds, arms):
    """--report-only on a copy of bench/results/reproduce (reproduce_smollm2, or a KL run's
    folder: the run folders, measurements and completions; task data rebuilt from the
    shipped files) writes the published report."""
    import shutil

    published = rm.published_folder(model, rm.Budget(grpo_beta=beta))
    copy = tmp_path / "published"
    shutil.copytree(published, copy)
    (copy / "results.md").unlink()
    assert rm.main(["--report-only", "--model", model, "--grpo-beta", str(beta), "--out", str(copy)]) == 0
    assert (copy / "results.md").read_text() == (published / "results.md").read_text()
    saved = json.loads((published / "results.json").read_text())
    assert len(saved["seeds"]) >= seeds and {r["arm"] for r in saved["runs"]} == arms


def test_a_before_rl_measurement_is_reused_under_another_rl_budget_only():
    saved = asdict(rm.Budget.smollm2())
    more_rl = rm.Budget.smollm2()
    more_rl.grpo_steps, more_rl.engine = 40, "hf"
    assert rm.measured_alike(saved, more_rl, before_rl=True)  # RL did not touch the model measured
    assert not rm.measured_alike(saved, more_rl, before_rl=False)  # after RL it did
    longer = rm.Budget.smollm2()
    longer.max_new_tokens += 1  # the measurement itself differs
    assert not rm.measured_alike(saved, longer, before_rl=True)
    assert not rm.measured_alike(None, more_rl, before_rl=True)
    kl = rm.Budget.smollm2()
    kl.grpo_beta = 0.04  # a KL term is RL too
    assert rm.measured_alike(saved, kl, before_rl=True) and not rm.measured_alike(saved, kl, before_rl=False)


def test_runs_saved_before_a_budget_field_existed_match_its_default(tmp_path):
    """grpo_beta came after the published runs (which ran with beta 0): their run.json
    lacks it and must still be the default budget's run, not another budget's."""
    old = asdict(rm.Budget())
    del old["grpo_beta"]
    (tmp_path / "run.json").write_text(json.dumps({"seed": 0, "arm": "B", "budget": old}))
    assert rm.load_run(tmp_path / "run.json", rm.Budget()) is not None
    assert rm.load_run(tmp_path / "run.json", rm.Budget(grpo_beta=0.04)) is None
    assert rm.measured_alike(old, rm.Budget(), before_rl=False)


def test_a_kl_run_is_published_into_a_folder_of_its_own():
    assert rm.published_folder("tiny", rm.Budget()) == rm.RESULTS_DIR / "reproduce"
    assert rm.published_folder("smollm2", rm.Budget.smollm2()) == rm.RESULTS_DIR / "reproduce_smollm2"
    kl = rm.Budget.smollm2()
    kl.grpo_beta = 0.04
    assert rm.published_folder("smollm2", kl) == rm.RESULTS_DIR / "reproduce_smollm2_beta0.04"


def test_an_interrupted_arm_reuses_its_finished_stages_and_records_only_the_times_it_spent(tmp_path, monkeypatch):
    """A rerun of an arm reuses each stage export and measurement an interrupted run saved,
    and run.json lists those as reused instead of recording 0 s for them."""
    import mist_pl.eval.grpo_curves as curves
    import mist_pl.stages as st

    fitted = []

    def fit_stage(stage, out, start):
        fitted.append(stage.name)
        (out / stage.name / "hf").mkdir(parents=True, exist_ok=True)
        return out / stage.name / "hf"

    def measure(model, tasks_dir, b, out, before_rl=True):  # the real ones' contract: reuse the saved file
        if out.exists():
            return json.loads(out.read_text())["row"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"row": {"model": str(model)}}))
        return {"model": str(model)}

    monkeypatch.setattr(st, "fit_stage", fit_stage)
    monkeypatch.setattr(st, "latest_version", lambda folder: folder)
    monkeypatch.setattr(curves, "grpo_learning", lambda folder, task: {})
    monkeypatch.setattr(rm, "base_model", lambda name, root, seed: tmp_path / "base")
    monkeypatch.setattr(rm, "measure_model", measure)
    monkeypatch.setattr(rm, "measure_between", measure)
    b = rm.Budget()
    mixtures = {"layout": tmp_path / "l", "chemistry": tmp_path / "c"}
    first = rm.run_arm("B", 0, b, tmp_path, tmp_path / "tasks", mixtures, tmp_path / "m.yaml")
    stages_run = ["cpt", "sft", "grpo_rxn_naming", "grpo_cond_mat_gen"]
    assert fitted == stages_run and first["reused"] == []
    assert set(first["seconds"]) == {*stages_run, "measure_before", "measure_between", "measure_after"}

    run_dir = tmp_path / "seed0" / "B"
    (run_dir / "run.json").unlink()  # interrupted after the material GRPO: its export and the
    (run_dir / "diagnostics" / "after.json").unlink()  # earlier measurements stay
    second = rm.run_arm("B", 0, b, tmp_path, tmp_path / "tasks", mixtures, tmp_path / "m.yaml")
    assert fitted == stages_run  # nothing fitted again
    assert set(second["seconds"]) == {"measure_after"}
    assert second["reused"] == ["cpt", "sft", "measure_before", "grpo_rxn_naming", "measure_between",
                                "grpo_cond_mat_gen"]
    assert second["after"] == {"model": str(run_dir / "grpo_cond_mat_gen" / "hf")}


def test_a_between_stage_measurement_is_reused_only_under_the_same_rl_budget(tmp_path, monkeypatch):
    import mist_pl.eval.loading as loading

    class Measured(Exception):
        pass

    def load_model(*args, **kwargs):
        raise Measured  # reached only when the saved measurement is not reused

    monkeypatch.setattr(loading, "load_model", load_model)
    out = tmp_path / "between.json"
    b = rm.Budget.smollm2()
    out.write_text(json.dumps({"row": {"top1_rxn_naming": 0.1}, "budget": asdict(b)}))
    assert rm.measure_between(tmp_path, tmp_path, b, out) == {"top1_rxn_naming": 0.1}
    kl = rm.Budget.smollm2()
    kl.grpo_beta = 0.04
    with pytest.raises(Measured):
        rm.measure_between(tmp_path, tmp_path, kl, out)
    out.write_text(json.dumps({"row": {"top1_rxn_naming": 0.1}}))  # saved before measurements kept their budget
    with pytest.raises(Measured):
        rm.measure_between(tmp_path, tmp_path, b, out)
