"""What a recipe asks of each GPU per step, read from its YAML (no model is built).

CPT and SFT: ``data.seq_len`` x ``data.batch_size`` tokens per micro batch,
``accumulate_grad_batches`` micro batches per optimizer step. GRPO: a round of
``prompts_per_round`` x ``num_generations`` completions of up to ``max_prompt_tokens +
max_new_tokens`` tokens, trained in micro batches of ``grpo.micro_batch_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


@dataclass(frozen=True)
class Workload:
    stage: str  # cpt | sft | grpo
    name_or_path: str
    seq_len: int  # tokens of one training row
    micro_batch: int  # rows per forward/backward on one GPU
    accumulate: int  # micro batches per optimizer step
    max_steps: int  # optimizer steps
    precision: str
    master_dtype: str  # lm.dtype: the dtype the (sharded) weights are kept in
    optimizer: str  # adamw | adamw8bit
    checkpointing: bool  # activation (gradient) checkpointing
    attention: str  # lm.attn_implementation
    # GRPO only
    rollouts_per_round: int = 0  # per GPU
    prompts_per_round: int = 0
    optimizer_steps_per_round: int = 1
    completion_len: int = 0
    reference: bool = False  # beta > 0 keeps a frozen reference copy
    unshard_for_generation: bool = False
    defer_grad_sync: bool = False  # unsharded gradients kept until a step's last micro-batch
    engine: str = "hf"  # sampling.engine
    engine_memory_share: float = 0.0  # vllm: sampling.vllm_gpu_memory_utilization
    engine_sleeps: bool = False  # vllm: sampling.vllm_sleep (memory given back while training)

    @property
    def compute_bytes(self) -> int:
        """Bytes per activation element: bf16 with bf16 precision, else the weights' dtype."""
        if self.precision.startswith("bf16") or self.precision.startswith("16"):
            return 2
        return 2 if self.master_dtype in ("bfloat16", "float16") else 4

    @property
    def master_bytes(self) -> int:
        return 2 if self.master_dtype in ("bfloat16", "float16") else 4

    def tokens_per_step(self, world: int) -> int:
        """Training tokens (row positions) of one optimizer step over all GPUs."""
        if self.stage == "grpo":
            return self.rollouts_per_round // self.optimizer_steps_per_round * self.seq_len * world
        return self.seq_len * self.micro_batch * self.accumulate * world


def _stage(class_path: str) -> str:
    lowered = class_path.lower()
    if "grpo" in lowered:
        return "grpo"
    return "sft" if "sft" in lowered else "cpt"


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The recipe as plain data, ``${...}`` interpolations resolved (as the CLI does)."""
    return OmegaConf.to_container(OmegaConf.load(str(path)), resolve=True)


def workload_from_recipe(recipe: dict[str, Any]) -> Workload:
    trainer = recipe.get("trainer") or {}
    model = (recipe.get("model") or {}).get("init_args") or {}
    data = (recipe.get("data") or {}).get("init_args") or {}
    lm, optim = model.get("lm") or {}, model.get("optim") or {}
    stage = _stage((recipe.get("model") or {}).get("class_path", ""))
    max_steps = trainer.get("max_steps")
    if not max_steps or max_steps < 0:
        raise ValueError("trainer.max_steps is not set: the token budget is max_steps x tokens per step")
    common = dict(
        stage=stage, name_or_path=str(lm.get("name_or_path", "tiny")), max_steps=int(max_steps),
        precision=str(trainer.get("precision") or "32-true"), master_dtype=str(lm.get("dtype", "float32")),
        optimizer=str(optim.get("name", "adamw")), checkpointing=bool(lm.get("gradient_checkpointing", False)),
        attention=str(lm.get("attn_implementation", "auto")),
    )
    if stage != "grpo":
        return Workload(seq_len=int(data.get("seq_len", 256)), micro_batch=int(data.get("batch_size", 8)),
                        accumulate=int(trainer.get("accumulate_grad_batches") or 1), **common)
    # Inside: rl imports torch; the planner loads it only for a GRPO config.
    from mist_pl.rl.config import GRPOConfig
    from mist_pl.rl.sampling import SamplingConfig

    grpo = GRPOConfig(**(model.get("grpo") or {}))
    sampling = SamplingConfig(**(model.get("sampling") or {}))
    prompt = int(data.get("max_prompt_tokens", 256))
    return Workload(
        seq_len=prompt + sampling.max_new_tokens, micro_batch=grpo.micro_batch_size, accumulate=grpo.grad_accum_steps,
        rollouts_per_round=grpo.rollouts_per_round, prompts_per_round=grpo.prompts_per_round,
        optimizer_steps_per_round=grpo.optimizer_steps_per_round, completion_len=sampling.max_new_tokens,
        reference=grpo.beta > 0, unshard_for_generation=sampling.unshard_for_generation,
        defer_grad_sync=grpo.defer_grad_sync, engine=sampling.engine,
        engine_memory_share=sampling.vllm_gpu_memory_utilization if sampling.engine == "vllm" else 0.0,
        engine_sleeps=sampling.engine == "vllm" and sampling.vllm_sleep, **common,
    )
