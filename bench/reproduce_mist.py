"""Reproduce MiST's central claim at small scale: mid-stage training (CPT + SFT) before RL
makes RL work better. A benchmark, not a test: about 70 min per seed on 2 CPU cores (both arms).

Two arms start from the same pretrained base (SmolLM2-135M-Instruct, ``smollm2-135m``):

    A  base -> GRPO rxn_naming -> GRPO cond_mat_gen
    B  base -> CPT -> SFT -> GRPO rxn_naming -> GRPO cond_mat_gen   (same GRPO configs and steps)

For each seed and arm it measures, before RL and after RL, on the test splits:

* latent solvability (LS): LS_d (log-prob Cohen's d, gold vs distractors) for rxn_naming, and
  LS_pass@k (sampled, k = the GRPO group size) for cond_mat_gen, which has no single gold
  answer so LS_d skips it;
* greedy top-1 per task;

and reads the GRPO runs' TensorBoard event files for the per-step reward/accuracy curves
and the fraction of zero-variance groups (groups whose G completions all got the same
reward, so they carry no gradient: the quantity mid-stage training should lower).

Uncertainty: Wilson 95% intervals for top-1 (hits pooled over seeds, as one bigger test
set), and mean +- t-based 95% CI across seeds for LS and the zero-variance fraction.

    python bench/reproduce_mist.py                       # full run, seeds 0 1
    python bench/reproduce_mist.py --quick --seeds 0     # tiny model, few steps: a smoke run

Writes ``<out>/results.json``, ``<out>/results.md`` (also printed) and ``<out>/reproduce.png``.
Stages reuse :mod:`mist_pl.demo` (task building, fitting + export, measurement).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere without installing
    sys.path.insert(0, str(REPO))

TASKS = ("rxn_naming", "cond_mat_gen")
ARMS = ("A", "B")
ARM_TITLES = {"A": "A: GRPO only", "B": "B: CPT+SFT+GRPO"}
GRPO_GROUP_SIZE = 4  # num_generations in conf/tiny/grpo_*.yaml: LS_pass@k uses the same k

# Two-sided 95% Student t quantiles by degrees of freedom; a table keeps the helper free of
# scipy (not a project dependency). Beyond 30, 1.96 is within 2% of the exact value.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
         26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042}


# ----------------------------------------------------------------------------- pure helpers


def wilson_interval(hits: int, n: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion (sane at 0 or n hits and small n,
    unlike the normal approximation, which matters for tiny-model top-1 near 0)."""
    if n <= 0:
        return None, None
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def t_quantile_975(df: int) -> float:
    return _T975.get(df, 1.96) if df >= 1 else float("nan")


def mean_ci(values: Sequence[float | None]) -> dict:
    """Mean and t-based 95% CI across seeds (None/NaN values dropped; one value: no CI)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not xs:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": mean, "lo": None, "hi": None, "n": 1}
    half = t_quantile_975(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(xs)}


def pooled_top1(per_seed: Sequence[tuple[float | None, int]]) -> dict:
    """Pool (top-1, n evaluated) over seeds into one proportion with its Wilson interval."""
    hits = sum(round(p * n) for p, n in per_seed if p is not None and n)
    n = sum(n for p, n in per_seed if p is not None and n)
    lo, hi = wilson_interval(hits, n)
    return {"top1": hits / n if n else None, "hits": hits, "n": n, "lo": lo, "hi": hi}


def fmt_ci(summary: dict, percent: bool = False, key: str = "mean") -> str:
    """``12% [5, 25]`` or ``+0.31 [-0.10, +0.72]``; ``-`` when unmeasured."""
    value = summary.get(key)
    if value is None:
        return "-"
    f = (lambda v: f"{100 * v:.0f}") if percent else (lambda v: f"{v:+.2f}")
    text = f(value) + ("%" if percent else "")
    if summary.get("lo") is not None and summary.get("hi") is not None:
        text += f" [{f(summary['lo'])}, {f(summary['hi'])}]"
    return text


def curve_mean(curves: Sequence[Sequence[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Mean over seeds at each step logged by every seed (seeds may stop at different steps)."""
    if not curves:
        return []
    maps = [dict(c) for c in curves]
    steps = sorted(set.intersection(*(set(m) for m in maps)))
    return [(s, statistics.fmean(m[s] for m in maps)) for s in steps]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- budget


@dataclass
class Budget:
    """Sizes of the SmolLM2 run, chosen so one seed (both arms) takes about an hour on two
    CPU cores. ``None`` learning rates keep the config's value (the tiny configs' rates are
    for a random-init 4M model: far too high for a pretrained 135M one)."""

    base: str = "smollm2-135m"
    cpt_steps: int = 50         # multiples of 50: the tiny configs checkpoint every 50 steps
    sft_steps: int = 50
    grpo_steps: int = 8         # per GRPO stage (rxn_naming, then cond_mat_gen)
    cpt_seq_len: int | None = 256
    sft_batch_size: int | None = 1   # rows of 1024 packed tokens (2-5 examples each)
    grpo_prompts: int | None = 2     # prompts per GRPO step (x G=4 completions)
    cpt_lr: float | None = 1.0e-4
    sft_lr: float | None = 1.0e-4
    grpo_lr: float | None = 5.0e-5
    ls_examples: int = 12
    eval_examples: int = 16     # per task, from the test splits
    ls_pass_examples: int = 8
    eval_max_new_tokens: int = 224

    @classmethod
    def quick(cls) -> Budget:
        return cls(base="tiny", cpt_steps=50, sft_steps=50, grpo_steps=3, cpt_seq_len=None, sft_batch_size=None,
                   grpo_prompts=None, cpt_lr=None, sft_lr=None, grpo_lr=None, ls_examples=12,
                   eval_examples=6, ls_pass_examples=4, eval_max_new_tokens=160)


def build_tasks(tasks_dir: Path) -> None:
    """The demo's task data (rxn_naming: 19 test reactions; cond_mat_gen from pymatgen's
    shipped structures: 92 test requests). Deterministic, so a rerun or a second process
    (one seed each) reuses the folder instead of racing to rewrite it."""
    from mist_pl.demo import build_tasks as build

    if all((tasks_dir / t / "test.jsonl").exists() and (tasks_dir / t / "sft_train.jsonl").exists() for t in TASKS):
        return
    build(tasks_dir)


# ----------------------------------------------------------------------------- stages


def demo_budget(b: Budget):
    """mist_pl.demo.measure's budget; SCS is not part of this comparison, so it gets the
    minimum the diagnostic accepts rather than 150 molecules."""
    from mist_pl.demo import Budget as DemoBudget

    return DemoBudget(scs_molecules=20, ls_examples=b.ls_examples, eval_examples=b.eval_examples,
                      eval_max_new_tokens=b.eval_max_new_tokens)


def measure_model(model: str, tasks_dir: Path, b: Budget, out: Path, seed: int) -> dict:
    """LS and greedy top-1 of one model: demo.measure for LS_d + top-1, plus LS_pass@k on
    cond_mat_gen. Returns ls_rxn_naming, ls_cond_mat_gen, top1_<task>, n_<task>."""
    import torch

    from mist_pl.demo import measure
    from mist_pl.eval.evaluate import EvalConfig, evaluate_task
    from mist_pl.eval.loading import load_model
    from mist_pl.eval.task_data import load_task_examples
    from mist_pl.tasks.registry import get_task

    row = measure(model, tasks_dir, demo_budget(b), out)
    details = json.loads(out.read_text())["details"]
    result = {"ls_rxn_naming": row.get("ls_d_rxn_naming"), "scs_d": row.get("scs_d")}
    for task in TASKS:
        result[f"top1_{task}"] = row.get(f"top1_{task}")
        result[f"n_{task}"] = details.get(f"eval_{task}", {}).get("n_evaluated", 0)
    # Sampling seed follows the run seed so LS_pass@k varies across seeds like training does.
    lm, tokenizer = load_model(model, seed=seed)
    task = get_task("cond_mat_gen")
    examples = load_task_examples(task, tasks_dir / "cond_mat_gen" / "test.jsonl", b.ls_pass_examples)
    config = EvalConfig(k=GRPO_GROUP_SIZE, n=GRPO_GROUP_SIZE, temperature=0.9, greedy=False,
                        max_new_tokens=b.eval_max_new_tokens, batch_size=4, seed=seed)
    with torch.inference_mode():
        passk = evaluate_task(lm, tokenizer, task, examples, config).metrics
    result["ls_cond_mat_gen"] = passk.get(f"pass@{GRPO_GROUP_SIZE}")
    del lm
    return result


def _opt(flag: str, value) -> tuple[str, ...]:
    return () if value is None else (flag, str(value))


def stages(b: Budget, tasks_dir: Path, seed: int):
    from mist_pl.demo import Stage

    seed_flag = ("--seed_everything", str(seed))
    lr = "--model.init_args.optim.lr"
    cpt = Stage("cpt", "conf/tiny/cpt.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.cpt_steps), "--trainer.val_check_interval", str(b.cpt_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.cpt_steps // 10)),
        *_opt(lr, b.cpt_lr), *_opt("--data.init_args.seq_len", b.cpt_seq_len),
    ))
    sft = Stage("sft", "conf/tiny/sft.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.sft_steps), "--trainer.val_check_interval", str(b.sft_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.sft_steps // 10)),
        *_opt(lr, b.sft_lr), *_opt("--data.init_args.batch_size", b.sft_batch_size),
    ))
    grpo = {task: Stage(f"grpo_{task}", f"conf/tiny/grpo_{task}.yaml", (
        *seed_flag, "--trainer.max_steps", str(b.grpo_steps),
        "--data.init_args.train_path", str(tasks_dir / task / "train.jsonl"),
        *_opt(lr, b.grpo_lr),
        # P prompts x G=4 completions, all in one micro-batch; the data batch follows P.
        *(() if b.grpo_prompts is None else (
            "--model.init_args.grpo.prompts_per_round", str(b.grpo_prompts),
            "--model.init_args.grpo.micro_batch_size", str(b.grpo_prompts * GRPO_GROUP_SIZE),
            "--data.init_args.batch_size", str(b.grpo_prompts))),
    )) for task in TASKS}
    return cpt, sft, grpo


def base_model(name: str, root: Path, seed: int) -> Path:
    """The shared starting point of both arms for one seed.

    ``smollm2-135m`` is pretrained: the preset name is the same model everywhere. ``tiny``
    is random-init, and each consumer (the LS/top-1 measurement, a GRPO run under
    ``seed_everything``, CPT) would draw its own weights; saving it once per seed makes
    "before RL" and both arms start from the same model, as in the full run."""
    if name != "tiny":
        return Path(name)  # str(Path("smollm2-135m")) == "smollm2-135m": a preset stays a preset
    folder = root / f"seed{seed}" / "base_tiny"
    if not (folder / "config.json").exists():
        import torch

        from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

        torch.manual_seed(seed)
        cfg = ModelConfig()
        tokenizer = build_tokenizer(cfg)
        build_model(cfg, tokenizer).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def run_arm(arm: str, seed: int, b: Budget, root: Path, tasks_dir: Path) -> dict:
    """One arm for one seed: optional CPT+SFT, measure, GRPO per task, measure. Each stage's
    TensorBoard logs and export land under ``root/seed<seed>/<arm>/``; the result is saved as
    ``run.json`` there, and a rerun with the same budget reuses it (an interrupted benchmark
    restarts at the first unfinished arm)."""
    from mist_pl.demo import fit_stage, sft_mixture

    out = root / f"seed{seed}" / arm
    done = out / "run.json"
    previous = load_run(done, b)
    if previous is not None:
        print(f"[seed {seed} arm {arm}] reusing {done}", flush=True)
        return previous
    cpt, sft, grpo = stages(b, tasks_dir, seed)
    timings: dict[str, float] = {}

    def timed(name, fn, *args):
        start = time.perf_counter()
        value = fn(*args)
        timings[name] = round(time.perf_counter() - start, 1)
        print(f"[seed {seed} arm {arm}] {name}: {timings[name]:.0f} s", flush=True)
        return value

    model: Path = base_model(b.base, root, seed)
    if arm == "B":
        model = timed("cpt", fit_stage, cpt, out, model)
        sft_mixture(tasks_dir, out / "sft" / "mixture.yaml")
        sft_stage = type(sft)(sft.name, sft.config, (*sft.overrides, "--data.init_args.mixture",
                                                      str(out / "sft" / "mixture.yaml")))
        model = timed("sft", fit_stage, sft_stage, out, model)
    before = timed("measure_before", measure_model, str(model), tasks_dir, b, out / "diagnostics" / "before.json", seed)
    logs = {}
    for task in TASKS:  # the demo's order: rxn_naming first, then cond_mat_gen from its result
        model = timed(f"grpo_{task}", fit_stage, grpo[task], out, model)
        logs[task] = str(latest_version(out / f"grpo_{task}"))
    after = timed("measure_after", measure_model, str(model), tasks_dir, b, out / "diagnostics" / "after.json", seed)
    result = {"arm": arm, "seed": seed, "budget": asdict(b), "before": before, "after": after, "tb_logs": logs,
              "curves": {task: read_grpo_scalars(Path(logs[task]), task) for task in TASKS}, "seconds": timings}
    done.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def load_run(path: Path, b: Budget) -> dict | None:
    """A saved arm result, or None when it is missing or was run with another budget."""
    if not path.exists():
        return None
    run = json.loads(path.read_text())
    return run if run.get("budget") == asdict(b) else None


def finished_runs(root: Path, b: Budget) -> list[dict]:
    """Every arm finished under ``root`` with this budget: lets two processes (one seed each)
    share an output folder and either one, or ``--report-only``, report them all."""
    runs = [run for path in sorted(root.glob("seed*/*/run.json")) if (run := load_run(path, b)) is not None]
    return sorted(runs, key=lambda r: (r["seed"], r["arm"]))


def latest_version(stage_dir: Path) -> Path:
    """Lightning's newest ``version_N`` folder (a re-run into the same --out adds one)."""
    versions = sorted(stage_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[-1]))
    if not versions:
        raise FileNotFoundError(f"no TensorBoard version folder under {stage_dir}")
    return versions[-1]


def read_grpo_scalars(log_dir: Path, task: str) -> dict[str, list[tuple[int, float]]]:
    """Per-step reward, accuracy and zero-variance fraction from a GRPO run's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    tags = set(acc.Tags().get("scalars", []))
    wanted = {"reward": "reward/mean", "accuracy": f"task/{task}/accuracy",
              "zero_variance_frac": "groups/zero_variance_frac"}
    return {key: [(e.step, e.value) for e in acc.Scalars(tag)] if tag in tags else []
            for key, tag in wanted.items()}


# ----------------------------------------------------------------------------- report


def summarize(runs: Sequence[dict]) -> dict:
    summary: dict = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue
        s: dict = {"seeds": [r["seed"] for r in mine],
                   "scs_before": mean_ci([r["before"].get("scs_d") for r in mine])}
        for task in TASKS:
            s[task] = {
                "ls_before": mean_ci([r["before"][f"ls_{task}"] for r in mine]),
                "top1_before": pooled_top1([(r["before"][f"top1_{task}"], r["before"][f"n_{task}"]) for r in mine]),
                "top1_after": pooled_top1([(r["after"][f"top1_{task}"], r["after"][f"n_{task}"]) for r in mine]),
                "zero_variance_frac": mean_ci([
                    statistics.fmean(v for _, v in r["curves"][task]["zero_variance_frac"])
                    if r["curves"][task]["zero_variance_frac"] else None for r in mine]),
            }
        summary[arm] = s
    return summary


def format_report(summary: dict, b: Budget) -> str:
    headers = ["task", "arm", "LS before RL", "top-1 before RL", "top-1 after RL", "zero-var groups (RL)"]
    rows = []
    for task in TASKS:
        for arm in ARMS:
            if arm not in summary:
                continue
            t = summary[arm][task]
            # n shown with top-1: the fixture test splits are small (cond_mat_gen: 1 per seed),
            # and the reader should see how little a top-1 difference can mean.
            # LS_pass@k is a share of prompts (percent); LS_d an effect size (signed).
            rows.append([task, ARM_TITLES[arm], fmt_ci(t["ls_before"], percent=task == "cond_mat_gen"),
                         f'{fmt_ci(t["top1_before"], True, "top1")} n={t["top1_before"]["n"]}',
                         f'{fmt_ci(t["top1_after"], True, "top1")} n={t["top1_after"]["n"]}',
                         fmt_ci(t["zero_variance_frac"], True)])
    seeds = sorted({s for arm in summary.values() for s in arm["seeds"]})
    scs = ", ".join(f"{ARM_TITLES[a]} {fmt_ci(summary[a]['scs_before'])}" for a in ARMS if a in summary)
    notes = [
        f"Base model: {b.base}; seeds {seeds}; CPT {b.cpt_steps} / SFT {b.sft_steps} steps (arm B), "
        f"GRPO {b.grpo_steps} steps per task (both arms, G={GRPO_GROUP_SIZE}).",
        "LS: rxn_naming LS_d (Cohen's d, gold vs distractor log-prob); cond_mat_gen LS_pass@"
        f"{GRPO_GROUP_SIZE} (sampled, T=0.9). Mean [t-based 95% CI across seeds].",
        f"SCS d before RL (canonical vs corrupted SMILES, 20 molecules): {scs}.",
        f"top-1: greedy, the first {b.eval_examples} examples of each test split, hits pooled over seeds "
        "[Wilson 95% CI]. Every seed scores the same examples, so the pooled interval treats seed repeats "
        "as separate trials: it is narrower than the examples alone support.",
        "zero-var groups: mean over GRPO steps of groups/zero_variance_frac, mean [t 95% CI across seeds].",
    ]
    return markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def plot(runs: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on CPU boxes
    import matplotlib.pyplot as plt

    keys = ("reward", "accuracy", "zero_variance_frac")
    titles = {"reward": "reward/mean", "accuracy": "train accuracy (top-1)",
              "zero_variance_frac": "zero-variance groups (no gradient)"}
    fig, axes = plt.subplots(len(TASKS), len(keys), figsize=(15, 7), squeeze=False)
    colors = {"A": "tab:orange", "B": "tab:blue"}
    for i, task in enumerate(TASKS):
        for j, key in enumerate(keys):
            ax = axes[i][j]
            for arm in reversed(ARMS):  # B first: A's dashed line stays visible on top of it
                curves = [r["curves"][task][key] for r in runs if r["arm"] == arm and r["curves"][task][key]]
                for c in curves:  # individual seeds faint, mean bold: shows the seed spread
                    ax.plot(*zip(*c), color=colors[arm], alpha=0.25, linewidth=1)
                mean = curve_mean(curves)
                if mean:
                    # A dashed: identical curves (both arms stuck at zero reward) stay visible.
                    ax.plot(*zip(*mean), color=colors[arm], linewidth=2, label=ARM_TITLES[arm],
                            linestyle="--" if arm == "A" else "-")
            ax.set_title(f"GRPO {task}: {titles[key]}", fontsize=10)
            ax.set_xlabel("optimizer step")
            if key != "reward":  # shares: a fixed 0-1 axis keeps flat lines from looking like noise
                ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/reproduce_mist.py",
        description="Two arms from the same pretrained base: A = GRPO directly, B = CPT + SFT then the same "
                    "GRPO. Reports latent solvability before RL, top-1 before/after RL and the zero-variance "
                    "group fraction during RL for rxn_naming and cond_mat_gen, with seeds and 95% CIs.")
    p.add_argument("--out", default="runs/reproduce", help="output folder (default: runs/reproduce)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; each runs both arms (default 0 1)")
    p.add_argument("--cpt-steps", type=int, default=None, help="CPT steps, arm B (default 50; quick 50)")
    p.add_argument("--sft-steps", type=int, default=None, help="SFT steps, arm B (default 50; quick 50)")
    p.add_argument("--grpo-steps", type=int, default=None, help="GRPO steps per task, both arms (default 8; quick 3)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: embedded tiny random-init model instead of SmolLM2, few steps, small evals")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run (default both)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: OMP_NUM_THREADS or 1)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: report every arm already finished under --out with this budget "
                        "(e.g. after running seeds in parallel processes into one folder)")
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
    for flag in ("cpt_steps", "sft_steps", "grpo_steps"):
        if getattr(args, flag) is not None:
            setattr(b, flag, getattr(args, flag))
    # The tiny configs checkpoint every 50 steps; fit_stage exports the last checkpoint, so
    # a CPT/SFT length off that grid would export an earlier one.
    for flag in ("cpt_steps", "sft_steps"):
        if getattr(b, flag) % 50:
            raise SystemExit(f"--{flag.replace('_', '-')} must be a multiple of 50 "
                             "(the configs checkpoint every 50 steps)")

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tasks_dir = out / "tasks"
    start = time.perf_counter()
    if not args.report_only:
        build_tasks(tasks_dir)  # deterministic: shared by every seed and arm
        for seed in args.seeds:
            for arm in args.arms:
                run_arm(arm, seed, b, out, tasks_dir)  # saved as it finishes: partial results survive
    runs = finished_runs(out, b)
    if not runs:
        raise SystemExit(f"no finished arm under {out} for this budget: nothing to report")

    summary = summarize(runs)
    report = format_report(summary, b)
    plot(runs, out / "reproduce.png")
    (out / "results.json").write_text(json.dumps(
        {"budget": asdict(b), "seeds": sorted({r["seed"] for r in runs}), "summary": summary, "runs": runs,
         "seconds": round(time.perf_counter() - start, 1)}, indent=2, default=str) + "\n")
    (out / "results.md").write_text(report)
    print("\n" + report)
    print(f"results: {out / 'results.json'}\nplot: {out / 'reproduce.png'}\nTensorBoard: tensorboard --logdir {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
