"""The planner's printed report."""

from __future__ import annotations

from mist_pl.planning.dims import ModelDims
from mist_pl.planning.memory import GiB, MemoryPlan
from mist_pl.planning.speed import SpeedPlan
from mist_pl.planning.workload import Workload


def _gib(value: float) -> str:
    return f"{value / GiB:8.2f} GiB"


def render(recipe: str, d: ModelDims, w: Workload, nodes: int, gpus: int, memory: MemoryPlan,
           no_ckpt: MemoryPlan | None, with_ckpt: MemoryPlan | None, speed: SpeedPlan, gpu_mem_gb: float,
           mfu: float, peak_tflops: float) -> str:
    world = nodes * gpus
    kv = f"{d.kv_heads} kv heads" + (f", head dim {d.head_dim}" if d.head_dim else "")
    lines = [
        f"recipe {recipe}: {w.stage.upper()} on {nodes} node(s) x {gpus} GPU(s) = {world}, FSDP2 full shard",
        f"model {d.name}: {d.params / 1e9:.3f}B parameters (hidden {d.hidden}, {d.layers} layers, {d.heads} heads, "
        f"{kv}, intermediate {d.intermediate}, vocab {d.vocab}, {'tied' if d.tied else 'untied'} embeddings)",
        f"per GPU: micro batch {w.micro_batch} x {w.seq_len} tokens, {w.accumulate} micro batch(es) per optimizer step; "
        f"precision {w.precision}, weights {w.master_dtype}, optimizer {w.optimizer}, "
        f"activation checkpointing {'on' if w.checkpointing else 'off'}"
        + (f", gradients reduce-scattered {'at the last micro batch' if w.defer_grad_sync else 'every micro batch'}"
           if w.stage == "grpo" else ""),
        "",
        f"memory per GPU ({memory.phase} peak)",
    ]
    lines += [f"  {name:<36}{_gib(value)}" for name, value in memory.components.items()]
    lines.append(f"  {'total':<36}{_gib(memory.total)}   of {gpu_mem_gb:g} GB ({gpu_mem_gb * 1e9 / GiB:.1f} GiB)")
    for label, other in (("without activation checkpointing", no_ckpt), ("with activation checkpointing", with_ckpt)):
        if other is not None:
            lines.append(f"  {'(' + label + ')':<36}{_gib(other.total)}")
    lines += [
        "",
        f"speed at MFU {mfu:g} of {peak_tflops:g} TFLOP/s per GPU "
        f"({speed.flops_per_token / 1e9:.2f} GFLOP per token, TokenThroughput's count)",
        f"  tokens per optimizer step {speed.tokens_per_step:,}; training {speed.tokens_per_s:,.0f} tokens/s "
        f"({speed.tokens_per_s / world:,.0f} per GPU)",
    ]
    if w.stage == "grpo":
        lines.append(f"  sampling >= {speed.sampling_s_per_step:.1f} s per optimizer step (bandwidth bound, "
                     "every completion at max_new_tokens)")
    lines.append(f"  {speed.step_s:.2f} s per step x {w.max_steps:,} steps = {speed.total_tokens / 1e9:.2f}B tokens "
                 f"in {speed.days:.2f} days ({speed.days * 24 * world:,.0f} GPU-hours)")
    return "\n".join(lines)
