"""``python -m mist_pl.diagnostics {scs,ccs,ls} --model M [--ckpt C] --out DIR ...``

Examples::

    python -m mist_pl.diagnostics scs --model tiny --out runs/diag --limit 200
    python -m mist_pl.diagnostics ccs --model exported/ --data names.csv --data src-test.txt --out runs/diag
    python -m mist_pl.diagnostics ls --model smollm2-135m --ckpt last.ckpt \\
        --task rxn_prediction --data src-test.txt --task rxn_mcq --variant both --k 8 --out runs/diag

In ``ls`` a ``--data`` file belongs to the ``--task`` named just before it; a task
without one uses the file the package ships for it (rxn_mcq, rxn_true_false,
iupac_to_smiles, canonicalization); no ``--task`` means all four.

Each diagnostic writes ``<name>_items.csv`` and ``<name>_summary.json`` into ``--out``
(and TensorBoard scalars under ``--out/tensorboard`` with ``--tensorboard``), and prints
its metrics as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mist_pl.diagnostics.ls_logprob import CONTEXTS, DEFAULT_CONTEXT
from mist_pl.diagnostics.report import log_scalars
from mist_pl.diagnostics.suite import DEFAULT_SCS_LIMIT, DiagnosticOptions, prepare_inputs, run_diagnostic
from mist_pl.eval.task_args import add_task_arguments

LS_VARIANTS = {"d": ["ls_d"], "passk": ["ls_passk"], "both": ["ls_d", "ls_passk"]}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="preset (tiny, smollm2-135m) or local Hugging Face folder")
    parser.add_argument("--ckpt", help="Lightning checkpoint (.ckpt file or sharded folder) whose weights to load")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--limit", type=int, help="items per file (scs default: %d)" % DEFAULT_SCS_LIMIT)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, help="token cap per scored sequence (default: model context)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--attn", default="auto", help="attention backend: auto, sdpa, eager, flash_attention_2")
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars to OUT/tensorboard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.diagnostics", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    scs = sub.add_parser("scs", help="symbolic competence: canonical vs corrupted SMILES")
    _common(scs)
    scs.add_argument("--data", action="append", default=[], help="SMILES file (.smi/.txt/.csv); default RDKit's NCI set")
    scs.add_argument("--template", default=DiagnosticOptions.template, help="prompt with one {smiles}")
    scs.add_argument("--fraction", type=float, default=DiagnosticOptions.fraction)

    ccs = sub.add_parser("ccs", help="chemical knowledge: true vs corrupted statements from task files")
    _common(ccs)
    ccs.add_argument("--data", action="append", default=[],
                     help="task file (reactions, names, crystal records); repeat; default the shipped ones")

    ls = sub.add_parser("ls", help="latent solvability: LS_d (log-prob) and/or LS_pass@k (sampling)")
    _common(ls)
    add_task_arguments(ls, "--data", required=False)
    ls.add_argument("--variant", choices=sorted(LS_VARIANTS), default="both")
    ls.add_argument("--distractors", type=int, default=DiagnosticOptions.num_distractors)
    ls.add_argument("--context", choices=CONTEXTS,
                    help="LS_d: score answers after the model's own greedy reasoning (generated) or after "
                         "<think>THINK</think> (fixed); default %s, or fixed when --think is given" % DEFAULT_CONTEXT)
    ls.add_argument("--think", default="", help="text inside <think></think> before the scored answer (LS_d, fixed)")
    ls.add_argument("--max-think-tokens", type=int, default=DiagnosticOptions.max_think_tokens,
                    help="LS_d, generated: reasoning length cap")
    ls.add_argument("--system-prompt")
    ls.add_argument("--k", type=int, default=8)
    ls.add_argument("--n", type=int, help="samples per example (default k)")
    ls.add_argument("--temperature", type=float, default=0.9)
    ls.add_argument("--max-new-tokens", type=int, default=256)
    return parser


def options_from(args: argparse.Namespace) -> DiagnosticOptions:
    options = DiagnosticOptions(limit=args.limit, batch_size=args.batch_size, seed=args.seed, max_length=args.max_length)
    for name in ("data", "template", "fraction", "think", "system_prompt", "k", "n", "temperature", "max_new_tokens"):
        if hasattr(args, name):
            setattr(options, name, getattr(args, name))
    if args.command == "ls":
        options.tasks = [name for name, _ in args.tasks]
        options.data = [path for _, path in args.tasks]  # None: the task's shipped file
        options.num_distractors = args.distractors
        options.max_think_tokens = args.max_think_tokens
        options.ls_context = args.context or ("fixed" if args.think else DEFAULT_CONTEXT)
    return options


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Inside, after parsing: --help and argument errors return before torch and the model stack load.
    from mist_pl.eval.loading import load_model

    options = options_from(args)
    names = LS_VARIANTS[args.variant] if args.command == "ls" else [args.command]
    inputs = prepare_inputs(names[0], options)  # both LS variants read the same examples
    model, tokenizer = load_model(args.model, args.ckpt, args.attn, args.device, args.seed)
    out = Path(args.out)
    writer = None
    if args.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tensorboard"))
    printed = {}
    try:
        for name in names:
            result = run_diagnostic(name, model, tokenizer, inputs, options)
            result.save(out)
            log_scalars(writer, result.scalars())
            printed[name] = {"metrics": result.summary["metrics"], "counts": result.summary["counts"]}
    finally:
        if writer is not None:
            writer.close()
    print(json.dumps(printed, indent=2))
    return printed


if __name__ == "__main__":
    main()
