"""LoRA and QLoRA adapters (peft) for users with one small GPU.

LoRA trains low-rank updates of the chosen linear layers and freezes everything else, so
optimizer state and gradients shrink to a few percent of the model. QLoRA also stores the
frozen base weights in 4-bit NF4 (bitsandbytes), which needs CUDA. Both need the ``lora``
extra: ``pip install 'mist-pl[lora]'``.

Checkpoints of a LoRA run hold the base weights and the adapters; ``python -m
mist_pl.export`` merges the adapters into a plain Hugging Face model folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# The attention and MLP projections of Qwen2 / Llama-style decoders (the recipes' models).
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class LoraConfig:
    """Low-rank adapters on ``target_modules``; the rest of the model is frozen.

    Args:
        r: rank of each adapter.
        alpha: scaling numerator; the update is scaled by ``alpha / r``.
        dropout: dropout on the adapter input.
        target_modules: names (suffixes) of the linear layers that get adapters.
        quantize_4bit: QLoRA: load the frozen base in 4-bit NF4 with bf16 compute. Needs a
            CUDA GPU and a local model folder; not combinable with FSDP sharding.
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    quantize_4bit: bool = False

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"lm.lora: need r >= 1, alpha > 0 and 0 <= dropout < 1; got r={self.r}, "
                f"alpha={self.alpha}, dropout={self.dropout}"
            )
        if not self.target_modules:
            raise ValueError("lm.lora.target_modules: name at least one layer, e.g. [q_proj, v_proj]")
        self.target_modules = list(self.target_modules)


def require_peft():
    try:
        import peft
    except ImportError as err:  # an optional extra: say how to get it
        raise ImportError("lm.lora needs the peft package: pip install 'mist-pl[lora]'") from err
    return peft


def check_qlora(cfg: LoraConfig | None, device_type: str, *, has_folder: bool = True, sharded: bool = False) -> None:
    """Fail before any weight is read when QLoRA (``quantize_4bit``) cannot run: it needs a
    CUDA device (bitsandbytes' 4-bit layers do not train elsewhere), a single GPU (no FSDP
    sharding) and a pretrained model folder. ``device_type`` is where the model will
    train ("cuda", "cpu", ...): the trainer's device at setup, CUDA's availability when
    the model is built. Plain LoRA (or no LoRA) always passes."""
    if cfg is None or not cfg.quantize_4bit:
        return
    if device_type != "cuda":
        raise RuntimeError(
            f"lm.lora.quantize_4bit=true (QLoRA) needs a CUDA GPU, but training runs on {device_type}: "
            "bitsandbytes 4-bit layers do not train there. Set trainer.accelerator: gpu, or "
            "quantize_4bit: false to train plain LoRA adapters."
        )
    if sharded:
        raise ValueError("lm.lora.quantize_4bit=true cannot be combined with FSDP sharding "
                         "(ModelParallelStrategy): QLoRA is for a single GPU")
    if not has_folder:
        raise ValueError("lm.lora.quantize_4bit=true needs a pretrained model folder in lm.name_or_path, not 'tiny'")


def quantization_config(cfg: LoraConfig):
    """``from_pretrained`` kwargs of QLoRA (NF4 weights, double quantization, bf16 compute)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def apply_lora(model: torch.nn.Module, cfg: LoraConfig, gradient_checkpointing: bool = False):
    """Wrap ``model`` in a peft model with adapters; only adapter weights require grad."""
    peft = require_peft()
    if cfg.quantize_4bit:
        # Casts norms to fp32 and makes inputs require grad so checkpointed blocks backprop.
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    adapters = peft.LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules, task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, adapters)


def is_peft_state(state: dict) -> bool:
    """Whether a model state dict was saved from a peft-wrapped model."""
    return any(k.startswith("base_model.model.") for k in state)
