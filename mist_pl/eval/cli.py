"""``python -m mist_pl.eval --model M [--ckpt C] --task T [--split FILE] --k 8 --out DIR``

Greedy top-1 and unbiased pass@k per task. ``--task`` repeats; a ``--split`` belongs to
the ``--task`` just before it (a task without one uses the file the package ships for
it, if any). Writes
``metrics.json`` (one entry per task) and ``<task>_samples.jsonl`` (every completion with
its verdict) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mist_pl.eval.evaluate import EvalConfig, evaluate_task
from mist_pl.eval.task_args import add_task_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="preset (tiny, smollm2-135m) or local Hugging Face folder")
    parser.add_argument("--ckpt", help="Lightning checkpoint (.ckpt file or sharded folder) whose weights to load")
    add_task_arguments(parser, "--split", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--n", type=int, help="samples per example (default k)")
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per sampler call")
    parser.add_argument("--limit", type=int, help="examples per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-greedy", action="store_true", help="skip greedy top-1")
    parser.add_argument("--no-sampling", action="store_true", help="skip pass@k")
    parser.add_argument("--system-prompt")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--attn", default="auto")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Inside, after parsing: --help and argument errors return before torch and the model stack load.
    from mist_pl.eval.loading import load_model
    from mist_pl.eval.task_data import load_task_examples
    from mist_pl.tasks.registry import get_task

    config = EvalConfig(k=args.k, n=args.n, temperature=args.temperature, greedy=not args.no_greedy,
                        sampled=not args.no_sampling, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                        seed=args.seed, system_prompt=args.system_prompt)
    data = {name: load_task_examples(get_task(name), split, args.limit) for name, split in args.tasks}
    model, tokenizer = load_model(args.model, args.ckpt, args.attn, args.device, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {}
    for name, examples in data.items():
        result = evaluate_task(model, tokenizer, get_task(name), examples, config)
        metrics[name] = result.metrics
        with (out / f"{name}_samples.jsonl").open("w", encoding="utf-8") as handle:
            for row in result.samples:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    print(json.dumps(metrics, indent=2))
    for name, m in metrics.items():
        print(summary_line(name, m))
    return metrics


def summary_line(task: str, m: dict) -> str:
    """``rxn_naming: top-1 12% (valid answers 96%, chance 10%), n=50``: a low top-1 next to the
    two numbers that say why (cannot format, or cannot solve)."""
    def pct(value):
        return "-" if value is None else f"{100 * value:.0f}%"

    context = [f"valid answers {pct(m.get('valid'))}"]
    if m.get("chance_top1") is not None:
        context.append(f"chance {pct(m['chance_top1'])}")
    parts = [f"top-1 {pct(m.get('top1'))} ({', '.join(context)})"]
    passk = f"pass@{m.get('k')}"
    if passk in m:
        parts.append(f"{passk} {pct(m[passk])} (valid sampled {pct(m.get('valid_sampled'))})")
    return f"{task}: " + "; ".join(parts) + f", n={m.get('n_evaluated')}"
