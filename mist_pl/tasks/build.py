"""Build a task's train/validation/test examples and SFT pairs.

``python -m mist_pl.tasks.build --task NAME --out DIR [--source fixtures|raw|file]
[--raw-dir data/raw] [--demo-dir PATH] [--input FILE] [--limit N] [--seed S]``

Writes into ``DIR`` (``DIR/<task>`` for each task with ``--task all``):

* ``train.jsonl``, ``validation.jsonl``, ``test.jsonl``: one example per line with
  ``prompt``, ``answer``, ``task``, the columns the task's rewards read, ``origin``
  (file and line of the record), ``source`` and ``split_key``;
* ``sft_train.jsonl``, ``sft_validation.jsonl``: ``prompt`` and ``completion`` (a
  computed reasoning trace and the gold answer, the task's ``sft_trace``; not written for
  a task without one);
* ``summary.json`` (also printed): examples kept per split, rows dropped by reason,
  class / label counts per split (the task's ``label_column``), the inputs' checksums for
  ``--source raw``.

Everything task-specific comes from the task's :class:`~mist_pl.tasks.registry.Task`:
its fixture and raw sources, loader, split and dedupe keys, trace builder and label
column. ``--task all`` builds every registered task that has the chosen source and says
which it skips (crystal_relax has no raw source).

``--source fixtures`` (default) reads the mist-demo fixtures shipped in the package
(``mist_pl/assets/mist_demo``; ``--demo-dir`` reads another copy) and needs nothing else;
``--source raw`` reads what ``python -m mist_pl.tasks.sources.fetch`` extracted; ``--source file
--input FILE`` reads one file with the task's own loader (for rxn_naming, any CSV with
a reaction and a class column: found by name, ``REACTION_PROMPT,CLASS`` of the MiST
reference data included, or named with ``--reaction-column`` / ``--class-column``). Splits are
hash-based and leak-free (:mod:`mist_pl.tasks.splits`); ``--seed`` salts them.

``--oxidation-states NAME`` and ``--mixed-valence`` (cond_mat_gen) choose the SMACT rule
that decides charge balance (:mod:`mist_pl.chem.charge_balance`; strict by default): it
filters the requests built from pymatgen's structures and is written into every example
(columns ``oxidation_states``, ``mixed_valence``), so the reward later judges answers by
the same rule.

``--fill-thin-classes N`` (rxn_naming, off by default) tops up every class with fewer
than N examples after ``--cap-per-class`` to N with curated RDKit templates applied to
real molecules shipped with RDKit (:mod:`mist_pl.tasks.sources.template_fill`). Those rows
carry ``synthetic: true`` and ``origin: template:<name>|...``; the summary counts them
per class (``fill_thin_classes``) and per split (``synthetic``). Off by default so a
build is real data unless asked; N at or below the cap keeps classes balanced.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from mist_pl.chem.charge_balance import DEFAULT_OXIDATION_STATES, OXIDATION_STATE_SETS
from mist_pl.tasks.examples import Tally
from mist_pl.tasks.registry import Task, get_task, load_builtin_tasks
from mist_pl.tasks.sources import layout
from mist_pl.tasks.sources.fixture_examples import fixture_examples
from mist_pl.tasks.sources.raw_examples import RawOptions, raw_examples
from mist_pl.tasks.sources.reaction_classes import DEFAULT_OXIDATION_POLICY, OXIDATION_POLICIES
from mist_pl.tasks.sources.template_fill import fill_thin_classes, shortfall, synthetic_counts
from mist_pl.tasks.splits import DEFAULT_FRACTIONS, SPLITS, split_examples

SOURCES = ("fixtures", "raw", "file")
SFT_SPLITS = ("train", "validation")


def task_names() -> tuple[str, ...]:
    """The registered tasks (the built-ins loaded), sorted by name."""
    return tuple(sorted(load_builtin_tasks()))


def has_source(task: Task, source: str) -> bool:
    """Whether ``task`` has examples from ``source`` (its fixture or raw source, or a loader
    for ``--source file``)."""
    if source == "file":
        return task.load_examples is not None
    return (task.fixture_examples if source == "fixtures" else task.raw_examples) is not None


def _labels(task: Task, rows: list[dict]) -> dict[str, int] | None:
    if task.label_column is None:
        return None
    counts = Counter(str(row.get(task.label_column)) for row in rows)
    return dict(sorted(counts.items())) if task.distinct_labels is None else {task.distinct_labels: len(counts)}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def source_examples(task: str, source: str, options, tally: Tally) -> list[dict]:
    if source == "fixtures":
        return fixture_examples(task, options, tally)
    if source == "raw":
        return raw_examples(task, options, tally)
    if source == "file":
        return file_examples(task, options, tally)
    raise ValueError(f"--source must be one of {SOURCES}, got {source!r}")


def file_examples(task_name: str, options, tally: Tally) -> list[dict]:
    """``--source file``: the task's loader on ``--input`` (rxn_naming: with the column
    names of ``--reaction-column`` / ``--class-column`` when given)."""
    path = getattr(options, "input_file", None)
    if path is None:
        raise layout.MissingInput("--source file needs --input PATH (a file in the task's own format)")
    task = get_task(task_name)
    if task.load_examples is None:
        raise ValueError(f"task {task_name!r} has no file loader")
    columns = {k: v for k in ("reaction_column", "class_column") if (v := getattr(options, k, None)) is not None}
    if columns and not set(columns) <= set(inspect.signature(task.load_examples).parameters):
        raise ValueError(f"--reaction-column / --class-column apply to rxn_naming, not {task_name}")
    loaded = task.load_examples(layout.require(Path(path), "the --input file"), **columns)
    tally.absorb(loaded.skipped)
    return [{**e, "source": Path(path).name} for e in loaded[: options.limit]]


def sft_rows(task_name: str, rows: list[dict], tally: Tally) -> list[dict]:
    """(prompt, completion) pairs from the task's trace builder; examples without a trace
    are counted in ``tally``."""
    trace = get_task(task_name).sft_trace
    if trace is None:
        raise ValueError(f"task {task_name!r} has no SFT trace builder")
    pairs = []
    for row in rows:
        completion = trace(row)
        if completion is None:
            tally.drop("no SFT trace (example lacks what the trace needs)", str(row.get("origin", "")))
        else:
            pairs.append({"prompt": row["prompt"], "completion": completion, "task": task_name, "origin": row.get("origin")})
    return pairs


def build_task(task_name: str, out: Path, source: str, options, with_sft: bool = True, log=print) -> dict:
    """Build one task into ``out``; returns the summary (also written as summary.json)."""
    started = time.monotonic()
    task = get_task(task_name)
    tally = Tally()
    examples = source_examples(task_name, source, options, tally)
    if task_name == "cond_mat_gen":  # the charge-balance rule travels with every example
        charge = {"oxidation_states": getattr(options, "oxidation_states", DEFAULT_OXIDATION_STATES),
                  "mixed_valence": bool(getattr(options, "mixed_valence", False))}
        examples = [{**e, **charge} for e in examples]
    summary: dict = {"task": task_name, "source": source, "seed": options.seed, "fractions": list(options.fractions)}
    fill_target = getattr(options, "fill_thin_classes", 0) or 0
    if task_name == "rxn_naming" and fill_target > 0:
        examples = examples + _fill(examples, fill_target, options, summary)
    summary["examples_before_split"] = len(examples)
    splits = split_examples(task_name, examples, options.seed, options.fractions, tally)
    if not any(splits[name] for name in SPLITS):  # empty split files would pass for a build
        raise ValueError(f"{task_name}: no examples from {_inputs(source, options)}: {_drops(tally)}")
    out.mkdir(parents=True, exist_ok=True)
    if with_sft and task.sft_trace is None:
        log(f"{task_name}: no SFT trace builder; no SFT files written")
        with_sft = False
    sft_tallies = {}
    for name in SPLITS:
        rows = splits[name]
        random.Random(f"{options.seed}|{name}").shuffle(rows)  # mix sources; same order every run
        rows = [{**row, "task": task_name, "prompt": task.build_prompt(row)} for row in rows]
        _write_jsonl(out / f"{name}.jsonl", rows)
        splits[name] = rows
        if with_sft and name in SFT_SPLITS:
            sft_tally = Tally()
            pairs = sft_rows(task_name, rows, sft_tally)
            _write_jsonl(out / f"sft_{name}.jsonl", pairs)
            sft_tallies[name] = {"kept": len(pairs), **sft_tally.as_dict()}
    summary["kept"] = {name: len(splits[name]) for name in SPLITS}
    summary.update(tally.as_dict())
    if with_sft:
        summary["sft"] = sft_tallies
    if "fill_thin_classes" in summary:
        summary["synthetic"] = {name: synthetic_counts(splits[name]) for name in SPLITS}
    labels = {name: _labels(task, splits[name]) for name in SPLITS}
    if any(v is not None for v in labels.values()):
        summary["labels"] = labels
    if source == "raw":
        manifest = Path(options.raw_dir) / "MANIFEST.json"
        summary["raw_manifest"] = json.loads(manifest.read_text()) if manifest.exists() else None
    summary["seconds"] = round(time.monotonic() - started, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(describe(summary))
    return summary


def _inputs(source: str, options) -> str:
    """What a build of ``source`` read, for messages."""
    if source == "file":
        return str(getattr(options, "input_file", None))
    if source == "raw":
        return f"the raw files in {options.raw_dir}"
    demo = getattr(options, "demo_dir", None)
    return f"the fixtures in {demo}" if demo else "the fixtures shipped in the package"


def _drops(tally: Tally) -> str:
    """Rows dropped, by reason, each with its count and the first row it dropped."""
    if not tally.dropped:
        return "no rows (a header only, or an empty file)"
    reasons = "; ".join(f"{reason}: {n} (first: {tally.first_origin.get(reason, '?')})" for reason, n in tally.dropped.most_common())
    return f"{sum(tally.dropped.values())} rows dropped ({reasons})"


def _fill(examples: list[dict], target: int, options, summary: dict) -> list[dict]:
    """Synthetic template reactions for the rxn_naming classes below ``target``."""
    policy = getattr(options, "oxidation_policy", DEFAULT_OXIDATION_POLICY)
    added = fill_thin_classes(examples, target, options.seed, policy)
    summary["fill_thin_classes"] = {"target": target, "added": synthetic_counts(added), "still_short": shortfall(examples + added, target)}
    return added


def describe(summary: dict) -> str:
    """A few lines for the terminal; summary.json has everything."""
    kept = " / ".join(f"{summary['kept'][name]} {name}" for name in SPLITS)
    lines = [f"{summary['task']} ({summary['source']}): {summary['examples_before_split']} examples read; kept {kept}"]
    if summary["dropped"]:
        lines.append("  dropped: " + ", ".join(f"{reason}: {n}" for reason, n in summary["dropped"].items()))
    for name, sft in summary.get("sft", {}).items():
        extra = f" (dropped: {sft['dropped']})" if sft["dropped"] else ""
        lines.append(f"  sft_{name}: {sft['kept']}{extra}")
    if "fill_thin_classes" in summary:
        fill = summary["fill_thin_classes"]
        lines.append(f"  synthetic (templates, classes topped up to {fill['target']}): {fill['added']}")
        if fill["still_short"]:
            lines.append(f"  still short of {fill['target']}: {fill['still_short']}")
    for name, labels in (summary.get("labels") or {}).items():
        lines.append(f"  {name} labels: {labels}")
    lines.append(f"  {summary['seconds']} s")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.tasks.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=(*task_names(), "all"),
                        help="a registered task, or all: every task that has the chosen --source")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", choices=SOURCES, default="fixtures",
                        help="fixtures: the shipped mist-demo files; raw: what mist_pl.tasks.sources.fetch extracted; "
                             "file: --input in the task's own format")
    parser.add_argument("--input", type=Path, default=None, help="--source file: the file to read")
    parser.add_argument("--reaction-column", default=None,
                        help="rxn_naming --source file: the reaction SMILES column (default: found by name, e.g. reaction, REACTION_PROMPT)")
    parser.add_argument("--class-column", default=None,
                        help="rxn_naming --source file: the class column (default: found by name, e.g. class, label, CLASS)")
    parser.add_argument("--raw-dir", type=Path, default=layout.DEFAULT_RAW_DIR)
    parser.add_argument("--demo-dir", type=Path, default=None, help="a mist-demo folder in the reference layout (default: the copy shipped in the package)")
    parser.add_argument("--limit", type=int, default=None, help="read at most N rows per source file")
    parser.add_argument("--seed", type=int, default=0, help="salts the split hash and the seeded choices")
    parser.add_argument("--fractions", type=float, nargs=3, default=DEFAULT_FRACTIONS, metavar=("TRAIN", "VALIDATION", "TEST"))
    parser.add_argument("--oxidation", choices=OXIDATION_POLICIES, default=DEFAULT_OXIDATION_POLICY, help="what Schneider/rxn-insight oxidations become")
    parser.add_argument("--cap-per-class", type=int, default=2000, help="rxn_naming: most reactions per class (0: no cap)")
    parser.add_argument(
        "--fill-thin-classes", type=int, default=0, metavar="N",
        help="rxn_naming: top up each class with fewer than N examples to N with template reactions on real molecules, marked synthetic (0: off)",
    )
    parser.add_argument("--reaction-sources", default="schneider,rxn_insight,orderly", help="comma list of schneider, rxn_insight, orderly, uspto_yields")
    parser.add_argument("--smiles-variants", type=int, default=1, help="canonicalization: random spellings per molecule")
    parser.add_argument("--substitutions", type=int, default=2, help="cond_mat_gen: substituted variants per shipped structure")
    parser.add_argument(
        "--oxidation-states", choices=sorted(OXIDATION_STATE_SETS), default=DEFAULT_OXIDATION_STATES,
        help="cond_mat_gen: SMACT oxidation-state set that decides charge balance (written into every example; "
             "default: the strict common set)",
    )
    parser.add_argument("--mixed-valence", action="store_true",
                        help="cond_mat_gen: let mixed-valence elements take several states in one compound (Fe3O4)")
    parser.add_argument("--no-sft", action="store_true", help="skip the SFT files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if abs(sum(args.fractions) - 1.0) > 1e-9 or min(args.fractions) < 0:
        _parser().error(f"--fractions must be non-negative and sum to 1, got {args.fractions}")
    options = RawOptions(
        raw_dir=args.raw_dir,
        limit=args.limit,
        seed=args.seed,
        fractions=tuple(args.fractions),
        oxidation_policy=args.oxidation,
        cap_per_class=args.cap_per_class or None,
        fill_thin_classes=max(args.fill_thin_classes, 0),
        reaction_sources=tuple(s.strip() for s in args.reaction_sources.split(",") if s.strip()),
        smiles_variants=args.smiles_variants,
        substitutions=args.substitutions,
        demo_dir=args.demo_dir,
        oxidation_states=args.oxidation_states,
        mixed_valence=args.mixed_valence,
        input_file=args.input,
        reaction_column=args.reaction_column,
        class_column=args.class_column,
    )
    if args.source == "file" and args.task == "all":
        _parser().error("--source file reads one task's file: name the task")
    if args.task == "all":
        tasks = [name for name in task_names() if has_source(get_task(name), args.source)]
        for name in task_names():
            if name not in tasks:
                print(f"{name}: skipped (no {args.source} source)")
    else:
        tasks = [args.task]
    try:
        for name in tasks:
            build_task(name, args.out / name if args.task == "all" else args.out, args.source, options, not args.no_sft)
    except (layout.MissingInput, ValueError) as error:  # a missing file, a wrong column: say which, no traceback
        print(f"build failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
