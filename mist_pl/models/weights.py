"""Load a state dict into a model, or say exactly why it does not fit.

``load_state_dict`` fails on another architecture with a long size-mismatch traceback (or
silently, with ``strict=False``). Checkpoints move between stages (CPT -> SFT -> GRPO, then
export), so a wrong ``lm.name_or_path`` should fail at start-up with a message naming both
architectures and the first differing tensors.
"""

from __future__ import annotations

from typing import Mapping

import torch


class ArchitectureMismatchError(ValueError):
    """A checkpoint's weights do not fit the model built from the config."""


def describe(model: torch.nn.Module) -> str:
    config = getattr(model, "config", None)
    if config is None:
        return type(model).__name__
    parts = [getattr(config, "model_type", "?")]
    for key, label in (("num_hidden_layers", "layers"), ("hidden_size", "hidden"), ("vocab_size", "vocab")):
        if getattr(config, key, None) is not None:
            parts.append(f"{label}={getattr(config, key)}")
    return f"{type(model).__name__} ({', '.join(parts)})"


def mismatches(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Differences between ``state`` and ``model``'s own state dict; empty when they fit."""
    own = model.state_dict()
    tied = bool(getattr(getattr(model, "config", None), "tie_word_embeddings", False))
    missing = [k for k in own if k not in state and not (tied and k.endswith("lm_head.weight"))]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es), e.g. {'; '.join(shapes[:3])}")
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing from the checkpoint, e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
    return problems


def load_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str, target: str = "") -> None:
    """Copy ``state`` into ``model`` (all tensors, same shapes) or raise naming the mismatch.

    Args:
        source: where the weights come from (a checkpoint path), for the message.
        target: what the model was built from (e.g. ``lm.name_or_path='tiny'``).
    """
    problems = mismatches(model, state)
    if problems:
        raise ArchitectureMismatchError(
            f"weights in {source} do not fit the model {describe(model)}"
            f"{' built from ' + target if target else ''}: {'; '.join(problems)}. "
            "Was the checkpoint written for another architecture or model size?"
        )
    model.load_state_dict(state, strict=False)  # strict on everything but a tied lm_head
