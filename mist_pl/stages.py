"""The pipeline pieces the demo and ``bench/reproduce_mist.py`` share: build the task
data, fit a stage, measure a model, show the measurements.

A :class:`Stage` is a shipped config plus command-line overrides. :func:`fit_stage` runs
it as the ordinary LightningCLI command a user types and exports the final weights to a
Hugging Face folder, which the next stage starts from (``--model.lm.name_or_path``): no
second training path to keep in step with the CLI. :func:`measure` scores one model on
the test examples :func:`evaluation_examples` picks, the same ones for every stage and
every arm, so a before/after difference is a paired comparison; its row is what
:func:`format_table` shows.

``import mist_pl.stages`` loads neither torch nor Lightning (their imports sit inside the
functions), so both scripts parse their arguments and plan their stages first.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mist_pl.eval.stats import wilson_interval
from mist_pl.shipped import config_file

TASKS = ("rxn_naming", "cond_mat_gen")
SPLIT_FRACTIONS = (0.7, 0.05, 0.25)  # train, validation, test
EVALUATION_BALANCE = {"rxn_naming": "answer", "cond_mat_gen": "elements"}  # see evaluation_examples
# Further rates of a task's greedy answers that go into the row (Task.metrics).
ROW_METRICS = {"cond_mat_gen": ("source_top1",)}
# (row key, column title, kind): "d" a signed effect size, "share" a percentage, "top1" a
# percentage with its Wilson interval (the row also holds n_<task> for the task the key
# ends with).
TABLE_COLUMNS = (
    ("scs_d", "SCS d", "d"),
    ("ls_d_rxn_naming", "LS_d rxn", "d"),
    ("valid_rxn_naming", "rxn valid", "share"),
    ("top1_rxn_naming", "rxn top-1 [95% CI]", "top1"),
    ("valid_cond_mat_gen", "cmg valid", "share"),
    ("top1_cond_mat_gen", "cmg top-1 [95% CI]", "top1"),
    ("source_top1_cond_mat_gen", "cmg source [95% CI]", "top1"),
)


@dataclass
class Stage:
    name: str
    config: str  # a shipped config, relative to mist_pl/conf (a leading conf/ is accepted)
    overrides: tuple[str, ...] = ()


@dataclass
class Timing:
    name: str
    seconds: float
    detail: str = ""


# ----------------------------------------------------------------------------- data


def build_tasks(out: Path, fractions: Sequence[float] = SPLIT_FRACTIONS) -> None:
    """Task splits + SFT traces from data installed with the packages, no download and no
    outside folder: rxn_naming from the reactions shipped in mist_pl (``--source
    fixtures``), cond_mat_gen from pymatgen's shipped structures and SMACT-checked
    substitutions (``--source raw``, which needs no fetched file for this task). A quarter
    of each goes to the test split (:data:`SPLIT_FRACTIONS`): 600 reactions leave about 15
    per class there, enough for a class-balanced evaluation set."""
    # Inside: keeps `import mist_pl.stages` light (see above).
    from mist_pl.tasks.build import main as build

    for task, source in (("rxn_naming", "fixtures"), ("cond_mat_gen", "raw")):
        args = ["--task", task, "--out", str(out / task), "--source", source,
                "--fractions", *(str(f) for f in fractions)]
        if build(args) != 0:
            raise RuntimeError(f"building the {task} task data failed")


def prepare_mix(mixture: Path, out: Path) -> Path:
    """Tokenize a CPT mixture into shards + manifest (what a cluster run does once, ahead of
    training); the CPT stage then reads them through ``data.prepared_dir``."""
    # Inside: keeps `import mist_pl.stages` light (see above).
    from mist_pl.data.prepare import main as prepare

    if prepare(["--config", str(mixture), "--output-dir", str(out), "--workers", "0", "--no-progress"]) != 0:
        raise RuntimeError(f"preparing {mixture} failed")
    return out


# ----------------------------------------------------------------------------- training


def latest_version(stage_dir: Path) -> Path:
    """Lightning's newest ``version_N`` folder of a stage (a rerun into the same --out adds one)."""
    versions = sorted(stage_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[-1]))
    if not versions:
        raise FileNotFoundError(f"no TensorBoard version folder under {stage_dir}")
    return versions[-1]


def fit_stage(stage: Stage, out_dir: Path, init_from: Path | None) -> Path:
    """Fit one stage; export the final weights to ``out_dir/<stage>/hf`` and return it."""
    # Inside: keeps `import mist_pl.stages` light (see above).
    from mist_pl.cli import main
    from mist_pl.export import export

    args = [
        "fit",
        "--config", str(config_file(stage.config)),
        "--trainer.logger.init_args.save_dir", str(out_dir),
        "--trainer.logger.init_args.name", stage.name,
        "--trainer.enable_progress_bar", "false",  # the caller shows its own progress, stage by stage
        "--trainer.enable_model_summary", "false",
        *stage.overrides,
    ]
    if init_from is not None:
        args += ["--model.lm.name_or_path", str(init_from)]
    argv, sys.argv = sys.argv, sys.argv[:1]  # LightningCLI warns when sys.argv has the caller's own flags
    try:
        cli = main(args)
    finally:
        sys.argv = argv
    # The weights as training ended, whatever step the config's checkpoint schedule last
    # saved at (weights only: the next stage starts a fresh optimizer).
    trainer = cli.trainer
    final = Path(trainer.log_dir) / "checkpoints" / f"final-step{trainer.global_step}.ckpt"
    trainer.save_checkpoint(final, weights_only=True)
    return export(final, out_dir / stage.name / "hf", overwrite=True)  # the caller owns its run folder


def run_stages(steps: Sequence[tuple[str, Callable[[], str]]], label: str) -> list[Timing]:
    """Run (stage name, action) pairs in order under one progress bar, each timed; an
    action returns a one-line detail of what it made."""
    # Inside: keeps `import mist_pl.stages` light (see above).
    from tqdm.auto import tqdm

    timings = []
    bar = tqdm(steps, desc=label, unit="stage", dynamic_ncols=True)
    for name, act in bar:
        bar.set_description(f"{label}: {name}")
        bar.write(f"=== {name} ===")
        start = time.perf_counter()
        detail = act()
        timings.append(Timing(name, time.perf_counter() - start, detail))
        bar.write(f"    {name}: {timings[-1].seconds:.0f} s")
    bar.set_description(f"{label}: done")
    bar.close()
    return timings


# ----------------------------------------------------------------------------- measurement


def evaluation_examples(tasks_dir: Path, task_name: str, limit: int) -> list[dict]:
    """The test examples every stage is measured on: the first ``limit`` of the test split,
    taken class by class in turn for reaction naming (ten classes, equal numbers: neither
    top-1 nor LS_d then rewards a class prior) and one request per element set before
    any repeats for material generation."""
    # Inside: keeps `import mist_pl.stages` light (see above).
    from mist_pl.eval.task_data import answer_key, load_task_examples
    from mist_pl.tasks.registry import get_task

    key = EVALUATION_BALANCE[task_name]
    return load_task_examples(get_task(task_name), tasks_dir / task_name / "test.jsonl", limit,
                              balance_by=answer_key if key == "answer" else lambda e: tuple(sorted(e.get(key) or ())))


def measure(
    model_name: str, tasks_dir: Path, out: Path, *, eval_examples: int, scs_molecules: int, max_new_tokens: int,
    sampled: Sequence[str] = (), k: int = 4, seed: int = 0,
) -> dict[str, Any]:
    """SCS d (on ``scs_molecules`` molecules), LS_d on rxn_naming, greedy valid-answer rate
    and top-1 per task (the first ``eval_examples`` of each test split, answers of up to
    ``max_new_tokens`` tokens) of one model, the task's further rates of
    :data:`ROW_METRICS` and each example's verdict (``correct_<task>``); for the tasks in
    ``sampled`` also pass@k of ``k`` samples at T = 0.9 (LS_pass@k, ``passk_<task>``) and
    the share of valid sampled answers. The row and the full metrics go to ``out``, every
    completion next to it (``<stage>_<task>_samples.jsonl.gz``)."""
    import torch

    # Inside: keeps `import mist_pl.stages` light (see above).
    from mist_pl.diagnostics.ls_logprob import run_ls_d
    from mist_pl.diagnostics.suite import DiagnosticOptions, prepare_inputs, run_diagnostic
    from mist_pl.eval.evaluate import EvalConfig, evaluate_task, write_samples
    from mist_pl.eval.loading import load_model
    from mist_pl.tasks.registry import get_task

    out.parent.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_model(model_name, seed=1234)
    row: dict[str, Any] = {}
    details: dict = {}
    examples = {task: evaluation_examples(tasks_dir, task, eval_examples) for task in TASKS}
    with torch.inference_mode():
        scs_options = DiagnosticOptions(limit=scs_molecules, batch_size=16)
        scs = run_diagnostic("scs", model, tokenizer, prepare_inputs("scs", scs_options), scs_options)
        row["scs_d"] = scs.summary["metrics"].get("cohens_d")
        ls = run_ls_d(model, tokenizer, {"rxn_naming": examples["rxn_naming"]}, batch_size=10)
        row["ls_d_rxn_naming"] = ls.summary["metrics"]["rxn_naming"].get("cohens_d")
        details.update(scs=scs.summary["metrics"], ls_d=ls.summary["metrics"])
        for task_name in TASKS:
            config = EvalConfig(sampled=task_name in sampled, k=k, n=k, max_new_tokens=max_new_tokens,
                                batch_size=8, seed=seed)
            result = evaluate_task(model, tokenizer, get_task(task_name), examples[task_name], config)
            metrics = result.metrics
            row.update({f"top1_{task_name}": metrics.get("top1"), f"valid_{task_name}": metrics.get("valid"),
                        f"n_{task_name}": metrics.get("n_evaluated")})
            row.update({f"{name}_{task_name}": metrics.get(name) for name in ROW_METRICS.get(task_name, ())})
            if task_name in sampled:
                row[f"passk_{task_name}"] = metrics.get(f"pass@{k}")
                row[f"valid_sampled_{task_name}"] = metrics.get("valid_sampled")
            # Per example, in evaluation order: what the paired before/after intervals need.
            row[f"correct_{task_name}"] = [bool(s["correct"]) for s in result.samples if s["mode"] == "greedy"]
            details[f"eval_{task_name}"] = metrics
            write_samples(out.parent / f"{out.stem}_{task_name}_samples.jsonl.gz", result.samples)
    out.write_text(json.dumps({"row": row, "details": details}, indent=2, default=str) + "\n")
    return row


# ----------------------------------------------------------------------------- tables


def format_value(value: float | None, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.0f}%" if percent else f"{value:+.2f}"


def format_top1(value: float | None, n: int | None) -> str:
    """``12% [6, 22]``: top-1 with its Wilson 95% interval over ``n`` examples."""
    if value is None or not n:
        return format_value(value, percent=True)
    lo, hi = wilson_interval(round(value * n), n)
    return f"{100 * value:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def format_cell(metrics: dict, key: str, kind: str) -> str:
    if kind == "top1":
        task = next((t for t in TASKS if key.endswith(t)), "")
        return format_top1(metrics.get(key), metrics.get(f"n_{task}"))
    return format_value(metrics.get(key), percent=kind == "share")


def format_table(rows: dict[str, dict[str, float | None]]) -> str:
    """Rows of :func:`measure` (stage -> metrics) as a plain-text table; shares in percent."""
    headers = ["stage", *(title for _, title, _ in TABLE_COLUMNS)]
    body = [[stage, *(format_cell(metrics, key, kind) for key, _, kind in TABLE_COLUMNS)]
            for stage, metrics in rows.items()]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
             for line in [headers, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_timings(timings: Sequence[Timing]) -> str:
    width = max([len(t.name) for t in timings] + [5])
    lines = [f"{'stage'.ljust(width)}  seconds  output"]
    lines += [f"{t.name.ljust(width)}  {t.seconds:7.0f}  {t.detail}" for t in timings]
    lines.append(f"{'total'.ljust(width)}  {sum(t.seconds for t in timings):7.0f}")
    return "\n".join(lines)
