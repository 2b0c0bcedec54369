"""The policy's weights as a rollout engine reads them: plain Hugging Face names, one
tensor at a time.

A separate engine (vLLM) holds its own copy of the model, so after every optimizer step
the trainer's weights must be copied into it. :func:`policy_tensors` is the one source
of that copy, whatever wraps the policy:

* a plain model: its parameters, each under its Hugging Face checkpoint name;
* tied input/output embeddings: ``lm_head.weight`` is yielded as well as
  ``model.embed_tokens.weight``, though it is the same tensor (``named_parameters``
  would drop it). vLLM's CPU backend keeps its own copy of the head and keeps the old
  one, silently, when the head is not among the pushed tensors;
* LoRA (peft): every adapted linear layer is yielded *merged*, ``W + scale * B @ A``,
  under the base layer's name; adapter tensors are never yielded, so the engine serves
  a plain model (no LoRA support needed in it) and the policy keeps its adapters
  unmerged;
* FSDP2: each parameter is gathered (``full_tensor``) when it is yielded and dropped
  before the next, so a rank holds the whole of one tensor at a time, never a second
  full copy of the model. Every rank must iterate it in the same order (the gathers are
  collectives): each rank pushes into its own engine.

Tensors are detached and converted to the engine's dtype one by one, so converting fp32
master weights to a bf16 engine also costs one tensor at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

LORA_MARKERS = (".lora_A.", ".lora_B.", ".lora_embedding_A.", ".lora_embedding_B.", ".lora_magnitude_vector.")


def unwrap_peft(model: torch.nn.Module) -> torch.nn.Module:
    """The Hugging Face model under a peft wrapper (the model itself without one)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) and hasattr(model, "peft_config") else model


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of an FSDP2 shard (a collective), or the tensor itself."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def _lora_delta(module: torch.nn.Module, out_shape: torch.Size) -> torch.Tensor | None:
    """``sum over active adapters of scale * B @ A`` of a peft LoRA linear layer (None when
    it has no unmerged active adapter). Computed from the gathered A and B, so it works on
    FSDP2 shards too."""
    if getattr(module, "merged", False) or getattr(module, "disable_adapters", False):
        return None
    delta = None
    for name in getattr(module, "active_adapters", []):
        if name not in getattr(module, "lora_A", {}):
            continue
        a = full(module.lora_A[name].weight).float()
        b = full(module.lora_B[name].weight).float()
        update = (b @ a) * float(module.scaling[name])
        if getattr(module, "fan_in_fan_out", False):
            update = update.T
        delta = update if delta is None else delta + update
    if delta is not None and delta.shape != out_shape:
        raise ValueError(f"LoRA update of shape {tuple(delta.shape)} does not fit its base weight {tuple(out_shape)}")
    return delta


@torch.no_grad()
def policy_tensors(model: torch.nn.Module, dtype: torch.dtype | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """``(Hugging Face name, tensor)`` for every weight of ``model`` as a plain model has
    it: LoRA merged, tied heads included, FSDP2 shards gathered one at a time (see the
    module docstring). ``dtype``: convert each tensor to it (None: keep its own)."""
    base = unwrap_peft(model)
    lora_layers = {name: module for name, module in base.named_modules()
                   if hasattr(module, "base_layer") and hasattr(module, "lora_A")}
    seen: set[str] = set()
    for name, param in base.named_parameters(remove_duplicate=False):
        if any(marker in name for marker in LORA_MARKERS):
            continue  # adapters reach the engine merged into their base layer
        plain = name.replace(".base_layer.", ".")
        if plain in seen:
            continue
        seen.add(plain)
        tensor = full(param.detach())
        owner = name.rsplit(".base_layer.", 1)[0] if ".base_layer." in name else None
        if owner in lora_layers and name.endswith(".base_layer.weight"):
            delta = _lora_delta(lora_layers[owner], tensor.shape)
            if delta is not None:
                tensor = (tensor.float() + delta).to(tensor.dtype)
        yield plain, tensor.to(dtype) if dtype is not None else tensor
    config = getattr(base, "config", None)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    if tied and "lm_head.weight" not in seen:
        # The head is the input embedding; push it under its own name too (module docstring).
        embeddings = base.get_input_embeddings().weight
        tensor = full(embeddings.detach())
        yield "lm_head.weight", tensor.to(dtype) if dtype is not None else tensor
