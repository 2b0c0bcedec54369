"""FSDP2 sharding of a Hugging Face causal LM: one ``fully_shard`` per decoder layer.

Called from ``configure_model`` under Lightning's ``ModelParallelStrategy``, which builds
the device mesh; the same code shards on CPU (gloo, for tests) and on GPU clusters.

The root unit (embeddings, final norm, output head) is not resharded after forward when
the model trains: its backward starts right after the loss, with the output head, so
resharding it would all-gather it again at once (about 1.1B parameters at 7B). That is
FSDP2's own default for a root; it is written out here because passing
``reshard_after_forward=True`` to the root call, as every layer gets, turns it off.
A model that never runs backward (the GRPO reference) reshards its root after forward,
or it would hold the root's full parameters for good.

:func:`enable_activation_checkpointing`, the other way a big model fits, lives here too:
both the whole-model and the sharded builders use it.
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
    trains: bool = True,
) -> nn.Module:
    """Shard ``model`` in place over ``mesh``.

    Each decoder layer becomes its own FSDP unit so only one layer's full parameters live
    in memory at a time; the root call covers embeddings, final norm and the (possibly
    tied) output head. ``param_dtype=torch.bfloat16`` gives bf16 compute with fp32
    master weights and fp32 gradient reduction. ``trains=False`` (a frozen model that
    never runs backward) reshards the root after forward too.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward and not trains)
    return model


def fsdp_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every FSDP2 unit in ``model`` ("" is the root)."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch without FSDP2
        return []
    return [(name, module) for name, module in model.named_modules() if isinstance(module, FSDPModule)]


def _param_groups(unit: nn.Module) -> list:
    state = unit._get_fsdp_state()
    groups = getattr(state, "_fsdp_param_groups", None)  # torch >= 2.8: a list
    if groups is None:
        group = getattr(state, "_fsdp_param_group", None)
        groups = [group] if group is not None else []
    return groups


def save_reshard_state(model: nn.Module) -> list[tuple]:
    """Each unit's exact reshard-after-forward state, for :func:`restore_reshard_state`.

    Saved as FSDP2 holds it (the post-forward mesh of every parameter group, and whether
    the root may still pick its own default at its first forward), so a restore gives back
    whatever a unit had, including the root's "keep gathered" and int (HSDP) settings."""
    saved = []
    for _, unit in fsdp_units(model):
        state = unit._get_fsdp_state()
        saved.append((state, getattr(state, "_auto_reshard_after_forward", None),
                      [(g, g.post_forward_mesh_info) for g in _param_groups(unit)]))
    return saved


def restore_reshard_state(saved: list[tuple]) -> None:
    for state, auto, groups in saved:
        if auto is not None:
            state._auto_reshard_after_forward = auto
        for group, mesh_info in groups:
            group.post_forward_mesh_info = mesh_info


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each decoder layer in backward; non-reentrant, so frozen inputs (LoRA) work."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
