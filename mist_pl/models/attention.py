"""Choose the attention kernel: fused flash-attention on CUDA when installed, else SDPA."""

from __future__ import annotations

import importlib.util
import logging

import torch

log = logging.getLogger(__name__)

ATTENTION_BACKENDS = ("auto", "flash_attention_2", "sdpa", "eager")


def flash_attn_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def choose_attention(requested: str = "auto") -> str:
    """Resolve ``requested`` to a transformers ``attn_implementation`` and log why."""
    if requested not in ATTENTION_BACKENDS:
        raise ValueError(f"attn_implementation={requested!r} is not one of {ATTENTION_BACKENDS}")
    if requested == "flash_attention_2" and not flash_attn_available():
        raise ValueError(
            "attn_implementation='flash_attention_2' needs CUDA and the flash-attn package "
            "(pip install 'mist-pl[gpu]'); use 'auto' to fall back to sdpa"
        )
    if requested != "auto":
        log.info("attention backend: %s (set in config)", requested)
        return requested
    if flash_attn_available():
        log.info("attention backend: flash_attention_2 (CUDA and flash-attn found)")
        return "flash_attention_2"
    reason = "no CUDA device" if not torch.cuda.is_available() else "flash-attn not installed"
    log.info("attention backend: sdpa (%s)", reason)
    return "sdpa"
