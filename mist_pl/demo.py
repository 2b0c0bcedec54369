"""The tiny end-to-end MiST pipeline behind ``make demo``.

Stages, each timed and shown in one progress bar::

    tasks             build rxn_naming / cond_mat_gen splits + SFT traces from data shipped in packages
    prepare           tokenize the CPT chemistry mix (conf/data/chem_mix_tiny.yaml) into Arrow shards
    measure base      SCS d, LS_d on rxn_naming, greedy top-1 per task of the random-init tiny model
    cpt               conf/tiny/cpt.yaml on the prepared shards of that mix
    measure cpt
    sft               conf/tiny/sft.yaml on the task traces (+ the shipped auxiliary tasks)
    measure sft
    grpo_rxn_naming   conf/tiny/grpo_rxn_naming.yaml
    grpo_cond_mat_gen conf/tiny/grpo_cond_mat_gen.yaml
    measure grpo

Each training stage is an ordinary LightningCLI run of a config under ``conf/tiny/``
(the same command a user types; the configs are read from the package, so the demo runs
from any directory) and passes its exported model folder to the next stage
through ``--model.lm.name_or_path``. The "measure" stages use the Python APIs of
:mod:`mist_pl.diagnostics` and :mod:`mist_pl.eval` on the test splits. How a stage is
fitted and a model measured lives in :mod:`mist_pl.stages` (``bench/reproduce_mist.py``
runs the same pieces); this module sizes the stages, orders them and judges the result.
Everything lands under ``runs/demo/``; the run ends with a table of the measurements and
the TensorBoard command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mist_pl.eval.grpo_curves import describe_learning, grpo_learning, plot_learning
from mist_pl.eval.stats import paired_interval, wilson_interval
from mist_pl.logs import configure_logging
from mist_pl.shipped import config_file
from mist_pl.stages import (
    TASKS,
    Stage,
    Timing,
    build_tasks,
    evaluation_examples,
    fit_stage,
    format_table,
    format_timings,
    latest_version,
    measure,
    prepare_mix,
    run_stages,
)

SFT_TASK_SHARES = {"cond_mat_gen": 0.25, "rxn_naming": 0.5}  # token shares of the demo's SFT mixture
AUXILIARY_SFT_SHARE = 0.25  # the shipped iupac/canonicalization/true-false/MCQ sources together
MAX_DEFAULT_THREADS = 2  # the tiny model's matmuls gain little beyond two threads


@dataclass
class Budget:
    """Sizes of the demo (10 min on 2 cores of the development machine, README); ``--quick`` is a few minutes."""

    cpt_steps: int = 150
    sft_steps: int = 300        # fewer leave the tiny model short of the answer layout (valid < 90%)
    grpo_rxn_steps: int = 16
    grpo_cmg_steps: int = 30
    scs_molecules: int = 150
    eval_examples: int = 50     # per task; rxn_naming: 5 of each class (LS_d uses the same reactions)
    eval_max_new_tokens: int = 224

    @classmethod
    def quick(cls) -> Budget:
        return cls(cpt_steps=50, sft_steps=150, grpo_rxn_steps=4, grpo_cmg_steps=12, scs_molecules=100,
                   eval_examples=20, eval_max_new_tokens=224)


@dataclass
class Demo:
    out: Path
    budget: Budget
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> measure()'s row
    timings: list[Timing] = field(default_factory=list)
    learning: dict[str, dict] = field(default_factory=dict)  # GRPO stage -> grpo_learning summary

    @property
    def tasks_dir(self) -> Path:
        return self.out / "tasks"


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, set the run up, run every stage of :func:`plan`, report."""
    args = parse_args(argv)
    demo = setup(Path(args.out).resolve(), Budget.quick() if args.quick else Budget(), args.threads)
    demo.timings = run_stages(plan(demo), "demo")
    finish(demo, None if args.publish is None else Path(args.publish))


# ----------------------------------------------------------------------------- setup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mist_pl.demo",
        description="Run the tiny MiST pipeline end to end: task data, CPT, SFT, diagnostics, "
                    "GRPO on reaction naming and material generation, evaluation.")
    parser.add_argument("--out", default="runs/demo", help="folder for logs, checkpoints and models")
    parser.add_argument("--quick", action="store_true", help="fewer steps and smaller measurements (a few minutes instead of about 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"torch CPU threads (default: OMP_NUM_THREADS if set, else the cores available, at most "
                             f"{MAX_DEFAULT_THREADS}; the numbers differ slightly between thread counts)")
    parser.add_argument("--publish", default=None, metavar="DIR",
                        help="also copy results.json and every evaluated completion (jsonl.gz) into DIR "
                             "(bench/results/demo holds the run the README quotes)")
    args = parser.parse_args(argv)
    args.threads = args.threads or omp_threads(parser)
    return args


def omp_threads(parser: argparse.ArgumentParser) -> int:
    """``OMP_NUM_THREADS`` as a thread count (the outer level of a nested ``4,2``); when it
    is unset or empty, the cores this process may use, at most :data:`MAX_DEFAULT_THREADS`.
    Any other value is a usage error naming it."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not value:
        return max(1, min(MAX_DEFAULT_THREADS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                              else os.cpu_count() or 1))
    outer = value.split(",")[0].strip()
    if not outer.isdigit() or int(outer) < 1:
        parser.error(f"OMP_NUM_THREADS={value!r} is not a positive whole number; unset it or pass --threads")
    return int(outer)


def setup(out_dir: Path, budget: Budget, threads: int) -> Demo:
    """Threads, logging and progress output for a run; torch and the training stack load here."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)
    # The output is the progress bar, the stage lines and the table: Lightning's INFO lines
    # (devices, "max_steps reached", cloud tips) are dropped, its warnings are kept, once each.
    configure_logging(logging.WARNING, lightning_level=logging.WARNING)
    # Lightning's own use of a deprecated torch name: nothing a user of the demo can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" of every stage
    return Demo(out_dir, budget)


# ----------------------------------------------------------------------------- stages


def plan(demo: Demo) -> list[tuple[str, Callable[[], str]]]:
    """The ordered (stage name, action) list; each action returns a one-line detail."""
    b, out, tasks = demo.budget, demo.out, demo.tasks_dir
    models: dict[str, Path | str] = {"base": "tiny"}

    def measure_step(label: str) -> Callable[[], str]:
        def act() -> str:
            target = out / "diagnostics" / f"{label}.json"
            demo.rows[label] = measure(str(models[label]), tasks, target, eval_examples=b.eval_examples,
                                       scs_molecules=b.scs_molecules, max_new_tokens=b.eval_max_new_tokens)
            return str(target)
        return act

    def fit_step(label: str, stage: Stage, previous: str | None) -> Callable[[], str]:
        def act() -> str:
            models[label] = fit_stage(stage, out, Path(models[previous]) if previous else None)
            return str(models[label])
        return act

    def grpo_step(label: str, stage: Stage, previous: str, task: str) -> Callable[[], str]:
        def act() -> str:
            fit_step(label, stage, previous)()
            demo.learning[task] = grpo_learning(latest_version(out / stage.name), task)
            return describe_learning(demo.learning[task])
        return act

    def tasks_step() -> str:
        build_tasks(tasks)
        return str(tasks)

    prepared = out / "prepared" / "chem_mix_tiny"
    cpt = Stage("cpt", "tiny/cpt.yaml", (
        "--trainer.max_steps", str(b.cpt_steps), "--trainer.val_check_interval", str(b.cpt_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.cpt_steps // 10)),
        "--data.init_args.prepared_dir", str(prepared),
    ))
    sft = Stage("sft", "tiny/sft.yaml", (
        "--data.init_args.mixture", str(out / "sft" / "mixture.yaml"),
        "--trainer.max_steps", str(b.sft_steps), "--trainer.val_check_interval", str(b.sft_steps),
        "--model.init_args.optim.warmup_steps", str(max(1, b.sft_steps // 10)),
    ))
    grpo_rxn = Stage("grpo_rxn_naming", "tiny/grpo_rxn_naming.yaml", (
        "--trainer.max_steps", str(b.grpo_rxn_steps),
        "--data.init_args.train_path", str(tasks / "rxn_naming" / "train.jsonl"),
    ))
    grpo_cmg = Stage("grpo_cond_mat_gen", "tiny/grpo_cond_mat_gen.yaml", (
        "--trainer.max_steps", str(b.grpo_cmg_steps),
        "--data.init_args.train_path", str(tasks / "cond_mat_gen" / "train.jsonl"),
    ))

    def sft_act() -> str:
        sft_mixture(tasks, out / "sft" / "mixture.yaml")
        return fit_step("sft", sft, "cpt")()

    return [
        ("tasks", tasks_step),
        ("prepare", lambda: str(prepare_mix(config_file("data/chem_mix_tiny.yaml"), prepared))),
        ("measure base", measure_step("base")),
        ("cpt", fit_step("cpt", cpt, None)),
        ("measure cpt", measure_step("cpt")),
        ("sft", sft_act),
        ("measure sft", measure_step("sft")),
        ("grpo_rxn_naming", grpo_step("grpo_rxn_naming", grpo_rxn, "sft", "rxn_naming")),
        ("grpo_cond_mat_gen", grpo_step("grpo", grpo_cmg, "grpo_rxn_naming", "cond_mat_gen")),
        ("measure grpo", measure_step("grpo")),
    ]


def sft_mixture(tasks_dir: Path, path: Path) -> Path:
    """The SFT mixture of the demo: conf/data/sft_tiny.yaml with the shipped rxn_naming
    examples replaced by the leak-free train traces of ``tasks_dir`` (the test split is
    what the demo evaluates) plus the cond_mat_gen traces."""
    import yaml

    mixture = yaml.safe_load(config_file("data/sft_tiny.yaml").read_text())
    mixture["name"] = "sft_demo"
    mixture["output_dir"] = str(path.parent / "prepared_sft")
    # The two demo tasks get most of the tokens; the shipped auxiliary tasks keep their
    # relative weights in the rest.
    sources = [s for s in mixture["sources"] if s["name"] != "rxn_naming"]
    rest = sum(s["weight"] for s in sources)
    for source in sources:
        source["weight"] = round(AUXILIARY_SFT_SHARE * source["weight"] / rest, 4)
    for task, weight in SFT_TASK_SHARES.items():
        sources.insert(0, {"name": f"{task}_traces", "format": "jsonl",
                           "path": str((tasks_dir / task / "sft_train.jsonl").resolve()),
                           "transform": {"kind": "chat"}, "weight": weight})
    mixture["sources"] = sources
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mixture, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- results


def finish(demo: Demo, publish_to: Path | None) -> None:
    """Judge the run, print the timings and the report, write ``results.json`` (and publish it)."""
    out_dir = demo.out
    results = {"rows": demo.rows, "seconds": {t.name: round(t.seconds, 1) for t in demo.timings},
               "machine": machine(), "baselines": baselines(demo), "changes": changes(demo.rows),
               "grpo": demo.learning}
    results["conclusions"] = conclusions(results)
    print("\n" + format_timings(demo.timings))
    print("\n" + format_report(demo, results))
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    if publish_to is not None:
        print(f"published: {publish(out_dir, publish_to)}")
    if demo.learning:
        print(f"GRPO curves: {plot_learning(demo.learning, out_dir / 'grpo_curves.png')}")
    print(f"\nresults: {out_dir / 'results.json'}")
    print(f"TensorBoard: tensorboard --logdir {out_dir}")


def baselines(demo: Demo) -> dict[str, list[dict]]:
    """The no-model rules of each task on the very examples every stage is measured on
    (:mod:`mist_pl.eval.baselines`; the training split feeds the frequency rules), best
    top-1 first."""
    # Inside: keeps `import mist_pl.demo` light, so the arguments are parsed before the task stack loads.
    from mist_pl.eval.baselines import read_examples, score_baselines
    from mist_pl.tasks.registry import get_task

    out = {}
    for task in TASKS:
        path = demo.tasks_dir / task / "train.jsonl"
        if not path.exists():
            continue
        examples = evaluation_examples(demo.tasks_dir, task, demo.budget.eval_examples)
        out[task] = [asdict(b) for b in score_baselines(get_task(task), examples, read_examples(path))]
    return out


def changes(rows: dict[str, dict], before: str = "sft", after: str = "grpo") -> dict[str, dict]:
    """Per task: greedy top-1 after minus before on the same examples, with the paired
    95% interval (:func:`mist_pl.eval.stats.paired_interval`)."""
    out = {}
    for task in TASKS:
        a, b = rows.get(before, {}).get(f"correct_{task}"), rows.get(after, {}).get(f"correct_{task}")
        if a and b and len(a) == len(b):
            lo, hi = paired_interval(a, b)
            out[task] = {"change": (sum(b) - sum(a)) / len(a), "lo": lo, "hi": hi, "n": len(a)}
    return out


# What the demo claims, each checked against its own numbers: (name, statement, test).
# Margins are wide on purpose: float kernels differ between CPUs (AVX2, AVX-512, AMX), so
# exact figures move from machine to machine, and a claim must not ride on one example.
def _rule_top1(results: dict, task: str) -> float:
    return max((b["top1"] for b in results["baselines"].get(task, [])), default=0.0)


def _learned(results: dict, task: str) -> bool:
    reward = results["grpo"].get(task, {}).get("reward", {})
    return reward.get("rise_lo") is not None and reward["rise_lo"] > 0


def _above(results: dict, stage: str, task: str, bar: float) -> bool:
    row = results["rows"].get(stage, {})
    value, n = row.get(f"top1_{task}"), row.get(f"n_{task}")
    return value is not None and bool(n) and wilson_interval(round(value * n), n)[0] > bar


CLAIMS: tuple[tuple[str, str, Callable[[dict], bool]], ...] = (
    ("cpt_scs", "CPT raises symbolic competence (SCS d up by at least 0.2)",
     lambda r: (r["rows"]["cpt"].get("scs_d") or 0) - (r["rows"]["base"].get("scs_d") or 0) >= 0.2),
    ("sft_layout", "SFT teaches the reaction-naming answer layout (at least 90% valid greedy answers)",
     lambda r: (r["rows"]["sft"].get("valid_rxn_naming") or 0) >= 0.9),
    ("grpo_cmg_learns", "GRPO raises the material-generation reward (interval of the rise above 0)",
     lambda r: _learned(r, "cond_mat_gen")),
    ("grpo_rxn_learns", "GRPO raises the reaction-naming reward (interval of the rise above 0)",
     lambda r: _learned(r, "rxn_naming")),
    ("rxn_above_rules", "reaction naming ends above its best no-model rule (Wilson lower bound above it)",
     lambda r: _above(r, "grpo", "rxn_naming", _rule_top1(r, "rxn_naming"))),
    ("cmg_above_rules", "material generation ends above its best no-model rule (Wilson lower bound above it)",
     lambda r: _above(r, "grpo", "cond_mat_gen", _rule_top1(r, "cond_mat_gen"))),
)


def conclusions(results: dict) -> dict[str, bool]:
    """Each claim of :data:`CLAIMS` judged on a demo's ``results.json`` content."""
    return {name: bool(test(results)) for name, _, test in CLAIMS}


def format_report(demo: Demo, results: dict) -> str:
    """The table of every measured stage, the no-model rules that give it scale, the
    change GRPO made, what each GRPO stage learned and which claims hold."""
    lines = [
        "SCS d: Cohen's d of log-prob, canonical vs corrupted SMILES. LS_d: Cohen's d, gold class vs the other",
        "classes: summed log-prob after the model's own reasoning, minus the same with an empty reaction (a class",
        "prior or a length preference scores 0). valid: greedy completions that close <answer> with a well-typed",
        "answer; top-1: greedy,",
        f"right answers [Wilson 95% CI]; {demo.budget.eval_examples} test examples per task ({demo.tasks_dir}; "
        "reaction naming: the same number of each class, material generation: distinct element sets).",
        "cmg source: the right answer is the stoichiometry the request's crystal has.",
        "",
        format_table(demo.rows),
        "",
        "No-model rules on the same examples (top-1; a model means something only above the best):",
    ]
    for task, scores in results["baselines"].items():
        shown = "; ".join(f"{b['name']} {100 * b['top1']:.0f}%"
                          + (f" (source {100 * b['metrics']['source_top1']:.0f}%)" if "source_top1" in b["metrics"] else "")
                          for b in scores)
        lines.append(f"  {task}: {shown}")
    for task, change in results["changes"].items():
        lines.append(f"top-1 change over GRPO, {task}: {100 * change['change']:+.0f} points "
                     f"[paired 95% CI {100 * change['lo']:+.0f}, {100 * change['hi']:+.0f}] on the same {change['n']} examples")
    for task, summary in demo.learning.items():
        lines.append(f"GRPO {task}: {describe_learning(summary)}")
    lines.append("Claims, judged on these numbers:")
    for name, statement, _ in CLAIMS:
        lines.append(f"  [{'holds' if results['conclusions'][name] else 'does not hold'}] {statement}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers depend on: float kernels differ between instruction sets."""
    import platform

    import torch

    # Inside: keeps `import mist_pl.demo` light (torch loads once a run has started).
    from mist_pl.models.attention import cpu_has_native_bf16

    return {"cpu": platform.processor() or platform.machine(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_has_native_bf16(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def publish(run: Path, target: Path) -> Path:
    """Copy a finished run's ``results.json`` and evaluated completions into ``target``
    (replacing what a previous publish put there): the files behind a published table."""
    target.mkdir(parents=True, exist_ok=True)
    for old in [*target.glob("*_samples.jsonl.gz"), target / "results.json"]:
        old.unlink(missing_ok=True)
    shutil.copy2(run / "results.json", target / "results.json")
    for samples in sorted((run / "diagnostics").glob("*_samples.jsonl.gz")):
        shutil.copy2(samples, target / samples.name)
    return target


if __name__ == "__main__":
    main()
