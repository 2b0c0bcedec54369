"""FSDP2 sharding of a Hugging Face causal LM: one ``fully_shard`` per decoder layer.

Called from ``configure_model`` under Lightning's ``ModelParallelStrategy``, which builds
the device mesh; the same code shards on CPU (gloo, for tests) and on GPU clusters.
"""

from __future__ import annotations

import torch
from torch import nn


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks to shard one by one (``_no_split_modules`` names them in HF)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"{type(model).__name__} names no decoder layer class in _no_split_modules")
    return layers


def apply_fsdp2(
    model: nn.Module,
    mesh,
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype | None = torch.float32,
    reshard_after_forward: bool = True,
) -> nn.Module:
    """Shard ``model`` in place over ``mesh``.

    Each decoder layer becomes its own FSDP unit so only one layer's full parameters live
    in memory at a time; the root call covers embeddings, final norm and the (possibly
    tied) output head. ``param_dtype=torch.bfloat16`` gives bf16 compute with fp32
    master weights and fp32 gradient reduction.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    return model
