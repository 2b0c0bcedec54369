"""Memory and time plan of a recipe on a cluster, before anything is submitted.

    python -m mist_pl.plan --config conf/recipes/cpt_qwen2.5-3b.yaml --nodes 1 --gpus-per-node 8
    python -m mist_pl.plan --config conf/recipes/grpo_rxn_naming_7b.yaml --nodes 2 --gpus-per-node 8 \\
        --mfu 0.35 --peak-tflops 989 --gpu-mem-gb 80

Prints per-GPU memory for parameters, gradients, optimizer state and activations (with
and without activation checkpointing) under FSDP2 full sharding over all GPUs, then
tokens/s and days for the recipe's token budget (max_steps x tokens per step) at the
given MFU. Model dimensions come from lm.name_or_path's config.json when the folder
exists here, else from a built-in table (Qwen2.5-3B/7B, SmolLM2-135M) or ``--model``.
A plan over ``--gpu-mem-gb`` prints a warning (and exits 2 with ``--strict``).
See :mod:`mist_pl.planning` for the formulas.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from mist_pl.planning.dims import resolve_dims
from mist_pl.planning.memory import GiB, plan_memory
from mist_pl.planning.report import render
from mist_pl.planning.speed import plan_speed
from mist_pl.planning.workload import load_recipe, workload_from_recipe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mist_pl.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a recipe YAML (conf/recipes/*.yaml)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilization to assume (default 0.4)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="dense bf16 peak per GPU (H100 SXM: 989; A100: 312)")
    parser.add_argument("--gpu-mem-gb", type=float, default=80.0, help="memory per GPU (default 80)")
    parser.add_argument("--hbm-tbps", type=float, default=3.35, help="GPU memory bandwidth, for GRPO sampling")
    parser.add_argument("--overhead-gb", type=float, default=3.0,
                        help="reserve for CUDA context, NCCL buffers and fragmentation (default 3)")
    parser.add_argument("--model", help="model folder or built-in name (qwen2.5-3b, qwen2.5-7b, smollm2-135m)")
    parser.add_argument("--attention", default=None, choices=("flash_attention_2", "sdpa"),
                        help="attention kernel to plan for (default: flash_attention_2 unless the recipe says sdpa)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 2 when the plan does not fit")
    args = parser.parse_args(argv)
    if args.nodes < 1 or args.gpus_per_node < 1 or not 0 < args.mfu <= 1:
        parser.error("need --nodes >= 1, --gpus-per-node >= 1 and 0 < --mfu <= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workload = workload_from_recipe(load_recipe(args.config))
    dims = resolve_dims(workload.name_or_path, hint=Path(args.config).stem, model=args.model)
    world = args.nodes * args.gpus_per_node
    attention = args.attention or ("sdpa" if workload.attention in ("sdpa", "eager") else "flash_attention_2")
    memory = plan_memory(dims, workload, world, attention, args.overhead_gb, args.gpu_mem_gb)
    variants = {flag: plan_memory(dims, dataclasses.replace(workload, checkpointing=flag), world, attention,
                                  args.overhead_gb, args.gpu_mem_gb) for flag in (False, True)}
    speed = plan_speed(dims, workload, world, args.mfu, args.peak_tflops, args.hbm_tbps)
    fits = memory.total <= args.gpu_mem_gb * 1e9
    if args.json:
        print(json.dumps({
            "model": dataclasses.asdict(dims), "params": dims.params, "world": world, "phase": memory.phase,
            "memory_bytes": memory.components, "total_bytes": memory.total,
            "total_without_checkpointing": variants[False].total, "total_with_checkpointing": variants[True].total,
            "fits": fits, "speed": dataclasses.asdict(speed),
        }, indent=2))
    else:
        print(render(args.config, dims, workload, args.nodes, args.gpus_per_node, memory, variants[False],
                     variants[True], speed, args.gpu_mem_gb, args.mfu, args.peak_tflops))
    if not fits:
        print(f"WARNING: {memory.total / GiB:.1f} GiB per GPU does not fit in --gpu-mem-gb {args.gpu_mem_gb:g} "
              f"({args.gpu_mem_gb * 1e9 / GiB:.1f} GiB): lower the micro batch, turn on activation "
              "checkpointing, use adamw8bit or more GPUs", file=sys.stderr)
        return 2 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
