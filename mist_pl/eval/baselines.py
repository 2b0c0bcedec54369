"""No-model baselines: what rules that never consult a model score on a test split.

A model's top-1 means something only above the best of them, so every evaluation prints
them beside the model (``python -m mist_pl.eval``, the demo's table, the reproduction
report). Each rule writes one answer per test example; the answer is judged by the
task's own ``top1`` and ``valid`` inside a well-formed completion, exactly as a model's.

Generic rules, for every task:

* ``most_frequent``: the commonest reference answer of the training split, for every
  example (:meth:`Task.reference_text`);
* ``random_valid``: closed tasks (:attr:`Task.choices`): an allowed answer drawn
  uniformly (seeded); open tasks: the reference answer of a random training example;
* ``best_fixed``: closed tasks: every allowed answer in turn for all examples, keeping
  the best. It is chosen with the test labels, so it is an upper bound for any rule that
  always gives one answer (on a class-balanced set it equals chance).

Plus the task's own rules (:attr:`Task.baselines`): copy the request, a rule-based solver.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mist_pl.eval.stats import wilson_interval
from mist_pl.tasks.registry import Task, get_task

RULE_THINK = "a rule, no model"


@dataclass(frozen=True)
class BaselineScore:
    """One rule's rates on a set of examples (``top1_ci``: Wilson 95%)."""

    name: str
    top1: float
    valid: float
    n: int
    top1_ci: tuple[float, float]
    metrics: dict[str, float]

    def describe(self) -> str:
        lo, hi = self.top1_ci
        return f"{self.name} {100 * self.top1:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def as_completion(answer: str | None) -> str:
    """An answer inside the layout every task judges (no answer: an empty turn)."""
    return f"<think>{RULE_THINK}</think><answer>{answer}</answer>" if answer is not None else f"<think>{RULE_THINK}</think>"


def judge(task: Task, name: str, answers: Sequence[str | None], examples: Sequence[Mapping[str, Any]]) -> BaselineScore:
    """Top-1, valid rate and the task's further metrics of one answer per example."""
    completions = [as_completion(a) for a in answers]
    n = len(examples)
    right = sum(bool(task.top1(c, e)) for c, e in zip(completions, examples))
    valid = sum(bool(task.valid(c, e)) for c, e in zip(completions, examples)) if task.valid is not None else 0
    metrics = {key: sum(bool(fn(c, e)) for c, e in zip(completions, examples)) / n for key, fn in task.metrics.items()} if n else {}
    return BaselineScore(name, right / n if n else 0.0, valid / n if n else 0.0, n, wilson_interval(right, n), metrics)


def generic_rules(task: Task, train: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Callable]:
    """The rules every task gets (module docstring), as ``examples -> answers``."""
    references = [a for a in (task.reference_text(e) for e in train) if a is not None]
    rules: dict[str, Callable] = {}
    if references:
        commonest = Counter(references).most_common(1)[0][0]
        rules["most_frequent"] = lambda examples: [commonest] * len(examples)
    if task.choices is not None:
        def random_choice(examples):
            rng = random.Random(seed)
            return [rng.choice(list(task.choices(e))) if task.choices(e) else None for e in examples]
        rules["random_valid"] = random_choice
    elif references:
        def random_reference(examples):
            rng = random.Random(seed)
            return [rng.choice(references) for _ in examples]
        rules["random_valid"] = random_reference
    return rules


def score_baselines(task: Task, test: Sequence[Mapping[str, Any]], train: Sequence[Mapping[str, Any]] = (),
                    seed: int = 0) -> list[BaselineScore]:
    """Every rule for ``task`` judged on ``test`` (``train`` feeds the frequency rules),
    best top-1 first."""
    rules = {**generic_rules(task, train, seed), **task.baselines}
    scores = [judge(task, name, rule(test), test) for name, rule in rules.items()]
    if task.choices is not None and test:
        options = sorted({c for e in test for c in task.choices(e)})
        fixed = [judge(task, option, [option] * len(test), test) for option in options]
        if fixed:
            best = max(fixed, key=lambda s: s.top1)
            scores.append(BaselineScore(f"best_fixed ({best.name})", best.top1, best.valid, best.n, best.top1_ci,
                                        best.metrics))
    return sorted(scores, key=lambda s: -s.top1)


def best_baseline(scores: Sequence[BaselineScore]) -> BaselineScore | None:
    return max(scores, key=lambda s: s.top1) if scores else None


def read_examples(path: Path) -> list[dict]:
    """A task split's jsonl (as ``mist_pl.tasks.build`` writes it); malformed lines skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def format_table(results: Mapping[str, Sequence[BaselineScore]]) -> str:
    """A markdown table: task, n, each rule's top-1 [CI] and valid rate, best first."""
    lines = ["| task | n | best rule | top-1 [95% CI] | every rule: top-1 / valid |", "|---|---|---|---|---|"]
    for task_name, scores in results.items():
        best = best_baseline(scores)
        if best is None or best.n == 0:
            lines.append(f"| {task_name} | 0 | - | - | no examples |")
            continue
        lo, hi = best.top1_ci
        rest = "; ".join(f"{s.name} {100 * s.top1:.0f}% / {100 * s.valid:.0f}%" for s in scores)
        lines.append(f"| {task_name} | {best.n} | {best.name} | {100 * best.top1:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}] "
                     f"| {rest} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mist_pl.eval.baselines",
        description="Score the no-model baselines of tasks built by mist_pl.tasks.build (DIR/<task>/{train,test}.jsonl).")
    parser.add_argument("tasks_dir", type=Path, help="a folder of built tasks, or one task's folder")
    parser.add_argument("--split", default="test", help="the split to score (default: test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    args = parser.parse_args(argv)
    folders = [args.tasks_dir] if (args.tasks_dir / f"{args.split}.jsonl").exists() else sorted(
        p for p in args.tasks_dir.iterdir() if (p / f"{args.split}.jsonl").exists())
    if not folders:
        parser.error(f"no {args.split}.jsonl in {args.tasks_dir} or its subfolders")
    results: dict[str, list[BaselineScore]] = {}
    for folder in folders:
        test = read_examples(folder / f"{args.split}.jsonl")
        name = next((e["task"] for e in test if isinstance(e.get("task"), str)), folder.name)
        train = read_examples(folder / "train.jsonl") if (folder / "train.jsonl").exists() else []
        results[name] = score_baselines(get_task(name), test, train, args.seed)
    print(format_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps({k: [asdict(s) for s in v] for k, v in results.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
