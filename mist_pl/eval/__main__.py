"""``python -m mist_pl.eval --model M [--ckpt C] --task T [--split FILE] --k 8 --out DIR``

Greedy top-1 and unbiased pass@k per task. ``--task`` repeats; a ``--split`` belongs to
the ``--task`` just before it (a task without one uses the file the package ships for
it, if any). Writes
``metrics.json`` (one entry per task, with the protocol and settings that produced it)
and ``<task>_samples.jsonl`` (every completion with its verdict; ``--gzip``:
``<task>_samples.jsonl.gz``) into ``--out``. Beside each model score it reports the
no-model baselines of the same examples (:mod:`mist_pl.eval.baselines`; the training split
for the frequency rules is ``train.jsonl`` beside the ``--split`` file) and the summary
line names the best: a model's top-1 means something only above it.

``--protocol mist`` evaluates reaction naming as the MiST reference does (one sample at
temperature 0.8, top-p 0.8, top-k 20, up to 4,096 new tokens or ``--max-new-tokens``,
capped by the model's context; one retry for a completion without an answer block) and
reports ``top1_strict`` beside the reference's ``top1_substring``
(:mod:`mist_pl.eval.mist_protocol`); every completion, retries included and marked, goes
into the samples file.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from mist_pl.eval.baselines import read_examples, score_baselines
from mist_pl.eval.evaluate import PROTOCOLS, EvalConfig, evaluate_task, write_samples
from mist_pl.eval.task_args import add_task_arguments

# The tasks the mist protocol reproduces the reference's evaluation of.
MIST_TASKS = ("rxn_naming",)
# Options of the default protocol that the mist protocol fixes or does not use.
NOT_FOR_MIST = {"k": "--k", "n": "--n", "temperature": "--temperature", "no_greedy": "--no-greedy",
                "no_sampling": "--no-sampling"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="preset (tiny, smollm2-135m) or local Hugging Face folder")
    parser.add_argument("--ckpt", help="Lightning checkpoint (.ckpt file or sharded folder) whose weights to load")
    add_task_arguments(parser, "--split", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="default",
                        help="default: greedy top-1 and pass@k; mist: the MiST reference's reaction-naming "
                             "evaluation (one sample at T 0.8, top-p 0.8, top-k 20, one retry, substring and strict "
                             "top-1)")
    parser.add_argument("--k", type=int, help="pass@k's k (default 8)")
    parser.add_argument("--n", type=int, help="samples per example (default k)")
    parser.add_argument("--temperature", type=float, help="pass@k sampling temperature (default 0.9)")
    parser.add_argument("--max-new-tokens", type=int,
                        help="completion length cap (default 256; mist: 4096, capped by the model's context)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per sampler call")
    parser.add_argument("--limit", type=int, help="examples per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-greedy", action="store_true", help="skip greedy top-1")
    parser.add_argument("--no-sampling", action="store_true", help="skip pass@k")
    parser.add_argument("--gzip", action="store_true", help="write the samples as <task>_samples.jsonl.gz")
    parser.add_argument("--system-prompt")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--attn", default="auto")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.protocol == "mist":
        given = [flag for dest, flag in NOT_FOR_MIST.items() if getattr(args, dest) not in (None, False)]
        if given:
            parser.error(f"{', '.join(given)}: not used by --protocol mist (it draws one sample per example at the "
                         "reference's settings); only --max-new-tokens can be changed")
        others = [name for name, _ in args.tasks if name not in MIST_TASKS]
        if others:
            parser.error(f"--protocol mist reproduces the reference's evaluation of {', '.join(MIST_TASKS)} only; "
                         f"got --task {', '.join(others)}")
    return args


def eval_config(args: argparse.Namespace) -> EvalConfig:
    if args.protocol == "mist":
        return EvalConfig(protocol="mist", max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                          seed=args.seed, system_prompt=args.system_prompt)
    k = 8 if args.k is None else args.k
    return EvalConfig(k=k, n=args.n, temperature=args.temperature, greedy=not args.no_greedy,
                      sampled=not args.no_sampling, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                      seed=args.seed, system_prompt=args.system_prompt)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Inside, after parsing: --help and argument errors return before torch and the model stack load.
    from mist_pl.eval.loading import load_model
    from mist_pl.eval.task_data import load_task_examples
    from mist_pl.tasks.registry import get_task

    config = eval_config(args)
    data = {name: load_task_examples(get_task(name), split, args.limit) for name, split in args.tasks}
    model, tokenizer = load_model(args.model, args.ckpt, args.attn, args.device, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {}
    suffix = ".jsonl.gz" if args.gzip else ".jsonl"
    for name, examples in data.items():
        result = evaluate_task(model, tokenizer, get_task(name), examples, config)
        metrics[name] = result.metrics
        evaluated = [examples[i] for i in sorted({row["index"] for row in result.samples})]
        train = training_examples(args, name)
        metrics[name]["baselines"] = [asdict(b) for b in score_baselines(get_task(name), evaluated, train, args.seed)]
        write_samples(out / f"{name}_samples{suffix}", result.samples)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    print(json.dumps(metrics, indent=2))
    for name, m in metrics.items():
        print(summary_line(name, m))
    return metrics


def training_examples(args: argparse.Namespace, task: str) -> list[dict]:
    """The training split for ``task``'s baselines: ``train.jsonl`` beside its ``--split``
    file (as ``mist_pl.tasks.build`` writes them); none otherwise, and the rules that need
    one (``most_frequent``, open tasks' ``random_valid``) are left out."""
    split = dict((name, path) for name, path in args.tasks).get(task)
    path = Path(split).with_name("train.jsonl") if split else None
    return read_examples(path) if path is not None and path.is_file() else []


def summary_line(task: str, m: dict) -> str:
    """``rxn_naming: top-1 12% (valid answers 96%, chance 10%), n=50``: a low top-1 next to the
    two numbers that say why (cannot format, or cannot solve). For the mist protocol: both
    scorings with their 95% intervals, and how many examples needed the retry."""
    def pct(value):
        return "-" if value is None else f"{100 * value:.0f}%"

    def with_ci(key):
        lo, hi = m.get(f"{key}_ci") or (None, None)
        interval = "" if lo is None else f" [{100 * lo:.0f}, {100 * hi:.0f}]"
        return pct(m.get(key)) + interval

    context = [f"valid answers {pct(m.get('valid'))}"]
    if m.get("protocol") == "mist":
        context.append(f"retried {m.get('retried')}")
    if m.get("chance_top1") is not None:
        context.append(f"chance {pct(m['chance_top1'])}")
    if m.get("protocol") == "mist":
        return (f"{task} (mist protocol): top-1 strict {with_ci('top1_strict')}, substring "
                f"{with_ci('top1_substring')} ({', '.join(context)}), n={m.get('n_evaluated')}")
    best = max(m.get("baselines") or [], key=lambda b: b["top1"], default=None)
    if best is not None:
        context.append(f"best no-model rule {best['name']} {pct(best['top1'])}")
    parts = [f"top-1 {with_ci('top1')} ({', '.join(context)})"]
    passk = f"pass@{m.get('k')}"
    if passk in m:
        parts.append(f"{passk} {pct(m[passk])} (valid sampled {pct(m.get('valid_sampled'))})")
    return f"{task}: " + "; ".join(parts) + f", n={m.get('n_evaluated')}"


if __name__ == "__main__":
    main()
