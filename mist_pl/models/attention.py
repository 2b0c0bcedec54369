"""Choose the attention kernel from where and in which dtype the model will compute.

flash-attention 2 runs only on a CUDA device and only in fp16/bf16. Whether CUDA exists
on the machine says neither: a run on ``accelerator: cpu`` of a GPU machine computes on
the CPU, and fp32 weights with ``precision: 32-true`` compute in fp32 on the GPU. So the
choice is a pure function of the run's accelerator (the device the trainer puts the model
on), its compute dtype (from ``trainer.precision`` and ``lm.dtype``) and whether the
``flash-attn`` package is installed; :func:`choose_attention` is that table, and
:func:`runtime_attention` applies it to a run's accelerator and Lightning precision
string (the modules pass their trainer's). The choice and its reason are logged.
"""

from __future__ import annotations

import importlib.util
import logging

import torch

log = logging.getLogger(__name__)

ATTENTION_BACKENDS = ("auto", "flash_attention_2", "sdpa", "eager")
FLASH = "flash_attention_2"
FALLBACK = "sdpa"
# flash-attention kernels exist for these compute dtypes only.
FLASH_DTYPES = (torch.float16, torch.bfloat16)
# Lightning precision strings whose forward computes in half precision (autocast or
# converted weights), whatever dtype the weights are stored in.
HALF_PRECISION_PREFIXES = {"bf16": torch.bfloat16, "16": torch.float16}


def flash_attn_installed() -> bool:
    """Whether the ``flash-attn`` package can be imported (not whether it can run here)."""
    return importlib.util.find_spec("flash_attn") is not None


def attention_dtype(precision: str | None, weights_dtype: torch.dtype | None) -> torch.dtype | None:
    """The dtype attention computes in: half precision when the trainer's ``precision`` is
    ``bf16-*`` / ``16-*``, else the dtype the weights are stored in."""
    text = str(precision or "")
    for prefix, dtype in HALF_PRECISION_PREFIXES.items():
        if text.startswith(prefix):
            return dtype
    return weights_dtype


def choose_attention(
    requested: str = "auto",
    accelerator: str = "cpu",
    dtype: torch.dtype = torch.float32,
    flash_installed: bool | None = None,
) -> tuple[str, str]:
    """``(backend, reason)`` for a model computing on ``accelerator`` (a device type:
    ``cpu``, ``cuda``, ``mps``) in ``dtype``.

    ``auto`` picks flash_attention_2 only when all three hold (CUDA, fp16/bf16, flash-attn
    installed), else sdpa. An explicit ``flash_attention_2`` that cannot run raises,
    naming what is missing; ``sdpa`` and ``eager`` are taken as given.
    """
    if requested not in ATTENTION_BACKENDS:
        raise ValueError(f"attn_implementation={requested!r} is not one of {ATTENTION_BACKENDS}")
    if requested in ("sdpa", "eager"):
        return requested, "set in config"
    installed = flash_attn_installed() if flash_installed is None else flash_installed
    missing = []
    if accelerator != "cuda":
        missing.append(f"the model computes on {accelerator!r}, not 'cuda'")
    if dtype not in FLASH_DTYPES:
        missing.append(f"it computes in {str(dtype).removeprefix('torch.')}, not float16/bfloat16 "
                       "(use precision: bf16-mixed or lm.dtype: bfloat16)")
    if not installed:
        missing.append("flash-attn is not installed (pip install 'mist-pl[gpu]')")
    if requested == FLASH:
        if missing:
            raise ValueError(f"attn_implementation='flash_attention_2' cannot run: {'; '.join(missing)}. "
                             "Use 'auto' to fall back to sdpa")
        return FLASH, "set in config"
    if missing:
        return FALLBACK, missing[0]
    return FLASH, f"CUDA, {str(dtype).removeprefix('torch.')} and flash-attn"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). Without either
    (every AVX2-only x86-64, most laptops) torch emulates bf16 matmuls, measured ~70x
    slower than fp32 at SmolLM2's width: bf16 on such a CPU is for checking code, not for
    training."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def runtime_attention(requested: str, accelerator: str = "cpu", precision: str | None = None,
                      weights_dtype: torch.dtype = torch.float32) -> str:
    """Resolve and log the backend of a model that computes on ``accelerator`` (the
    trainer's root device type) under Lightning ``precision`` with ``weights_dtype`` weights;
    warns when that is bf16 on a CPU that has no bf16 hardware (:func:`cpu_has_native_bf16`)."""
    dtype = attention_dtype(precision, weights_dtype)
    backend, reason = choose_attention(requested, accelerator, dtype)
    log.info("attention backend: %s (%s)", backend, reason)
    if accelerator == "cpu" and dtype == torch.bfloat16 and not cpu_has_native_bf16():
        log.warning("computing in bfloat16 on a CPU without bf16 hardware (no AVX512-BF16 or AMX): matmuls are "
                    "emulated and can be ~70x slower than float32; use precision: 32-true on this machine")
    return backend
