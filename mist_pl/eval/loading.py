"""Load the model to evaluate: a preset, a Hugging Face folder, or a Lightning checkpoint.

``--model`` names the architecture and tokenizer (``tiny``, ``smollm2-135m`` or a local
folder); ``--ckpt`` optionally replaces its weights with a Lightning checkpoint's (a
``.ckpt`` file or a sharded FSDP2 folder) through :mod:`mist_pl.export`'s readers. With
``--ckpt`` alone the model is the one recorded in the checkpoint's hyper-parameters.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mist_pl.export import lm_config_from, load_checkpoint, model_state_dict
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

log = logging.getLogger(__name__)


def load_model(
    model: str | None = None,
    ckpt: str | Path | None = None,
    attn_implementation: str = "auto",
    device: str = "cpu",
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode on ``device``, tokenizer). ``seed`` fixes the random weights of
    the ``tiny`` preset when no checkpoint is given."""
    if model is None and ckpt is None:
        raise ValueError("give --model (preset or HF folder), --ckpt (Lightning checkpoint), or both")
    checkpoint = load_checkpoint(ckpt) if ckpt is not None else None
    if model is not None:
        cfg = ModelConfig(name_or_path=model, attn_implementation=attn_implementation)
    else:
        cfg = lm_config_from(checkpoint)
        cfg.attn_implementation = attn_implementation
    tokenizer = build_tokenizer(cfg)
    torch.manual_seed(seed)
    lm = build_model(cfg, tokenizer, accelerator=torch.device(device).type)
    if checkpoint is not None:
        _load_weights(lm, model_state_dict(checkpoint), str(ckpt))
    lm.to(device)
    lm.eval()
    return lm, tokenizer


def _load_weights(model: PreTrainedModel, state: dict[str, torch.Tensor], source: str) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    # A tied output head is saved once; anything else missing means another architecture.
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or unexpected:
        raise ValueError(f"checkpoint {source} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    log.info("loaded weights from %s", source)
