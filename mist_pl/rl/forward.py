"""Logits of the completion tokens, with each prompt run once per group.

:func:`continuation_logits` works on plain tensors (the latent-solvability diagnostics
score several candidate answers after one prompt with it); :func:`completion_logits` is
the same for a micro-batch of rollouts.

The G completions of a prompt share it, so the policy forward need not see it G times:
the prompt is run once (P rows), its keys/values are copied to the group's rows, and
only completion tokens go through the model a second time. Gradients flow back
through the copied cache into the single prompt pass, so the result (and its gradient)
is the one a full ``[prompt + completion]`` forward gives, for ``P*Lp + N*Lc`` instead
of ``N*(Lp + Lc)`` tokens of compute: with 256-token prompts, G = 8 and short answers
that is most of the training forward and backward.

Falls back to the plain full forward when the model checkpoints activations (Hugging
Face drops the cache inside checkpointed layers) or when sharing saves nothing.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from mist_pl.rl.rollouts import Rollouts, joined_inputs
from mist_pl.rl.sampling import cache_argument


def activation_checkpointing(model: torch.nn.Module) -> bool:
    """Whether the model recomputes activations in backward (transformers >= 5 names it
    ``is_activation_checkpointing``; the older ``is_gradient_checkpointing`` is deprecated)."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(model), name) or hasattr(model, name):
            return bool(getattr(model, name))
    return False


def completion_logits(model: torch.nn.Module, micro: Rollouts, share_prompts: bool = True) -> torch.Tensor:
    """[B, Lc, V] logits; position t predicts completion token t."""
    return continuation_logits(model, micro.prompt_ids, micro.prompt_mask, micro.completion_ids,
                               micro.completion_mask, micro.group, share_prompts)


def continuation_logits(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    group: torch.Tensor,
    share_prompts: bool = True,
) -> torch.Tensor:
    """[N, Lc, V] logits of ``completion_ids`` (right-padded) after ``prompt_ids``
    (left-padded); rows with the same ``group`` id must have the same prompt, which then
    runs once. Position t predicts completion token t."""
    width = completion_ids.shape[1]
    groups, inverse = torch.unique(group, return_inverse=True)
    checkpointing = activation_checkpointing(model) and model.training and torch.is_grad_enabled()
    if not share_prompts or checkpointing or len(groups) == len(group) or width < 2:
        inputs = joined_inputs(prompt_ids, prompt_mask, completion_ids, completion_mask)
        # Only the positions that predict completion tokens need the vocabulary projection.
        return model(**inputs, use_cache=False, logits_to_keep=width + 1).logits[:, :-1]

    # One row per prompt: the first row of each group.
    rows = torch.arange(len(group), device=inverse.device)
    first = torch.full((len(groups),), len(group), device=inverse.device).scatter_reduce(0, inverse, rows, "amin")
    prompt_ids, prompt_mask = prompt_ids[first], prompt_mask[first].long()
    cache_arg = cache_argument(model)
    cache = DynamicCache(config=model.config)
    out = model(
        input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True, logits_to_keep=1, **{cache_arg: cache},
    )
    first_logits = out.logits[:, -1][inverse]  # the prompt's last position predicts token 0
    cache.batch_select_indices(inverse)  # differentiable copy of each prompt's keys/values to its rows

    # Completion tokens 0..Lc-2 predict tokens 1..Lc-1.
    prompt_mask = prompt_mask[inverse]
    attention = torch.cat([prompt_mask, completion_mask.long()[:, :-1]], dim=1)
    positions = prompt_mask.sum(-1, keepdim=True) + torch.arange(width - 1, device=attention.device)
    out = model(
        input_ids=completion_ids[:, :-1], attention_mask=attention, position_ids=positions,
        use_cache=True, **{cache_arg: cache},
    )
    return torch.cat([first_logits[:, None], out.logits], dim=1)
