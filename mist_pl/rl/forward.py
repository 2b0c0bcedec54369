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

The same result, not the same bits: in bf16 the two paths differ by up to ~1e-2 per
token log-prob, and so does one path on the same rows padded to another width (the
kernels reduce in another order). GRPO compares log-probs of three forwards, the policy
now, the policy at sampling time (old) and the reference, so it must run them through
*one* path on the same micro-batches: then they agree bit for bit while the weights do,
and a step-0 KL of 0 and ratio of 1 are checks, not hopes. The path is therefore chosen
by the caller (``share_prompts``), never by the model's train/eval or grad mode.

Nor by whether the weights are trainable: torch's ``matmul`` multiplies a strided
``[B, L, H]`` input by a weight that requires grad as one 2-D product over a contiguous
copy, and by a frozen weight as a batched product over the strided view, and the two
round differently (measured: 0.125 in a bf16 logit of SmolLM2-135M, 1e-6 in fp32, so a
frozen reference disagreed with the trainable policy it copies). The output head's input
is a slice of the hidden states; :func:`kept_positions` selects those positions by index,
which makes a contiguous copy, so frozen and trainable weights take the same product.
:func:`shares_prompts` is that choice for a model: sharing needs the KV cache, which
Hugging Face drops inside activation-checkpointed layers in training, and under FSDP2
it would keep every layer gathered through the backward pass.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from mist_pl.models.sharding import fsdp_units
from mist_pl.rl.rollouts import Rollouts, joined_inputs
from mist_pl.rl.sampling import cache_argument


def activation_checkpointing(model: torch.nn.Module) -> bool:
    """Whether the model recomputes activations in backward: transformers'
    ``is_activation_checkpointing`` when the model has it (transformers >= 5), else the
    per-module ``gradient_checkpointing`` flag that property reads."""
    if hasattr(model, "is_activation_checkpointing"):
        return bool(model.is_activation_checkpointing)
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def shares_prompts(model: torch.nn.Module, requested: bool = True) -> bool:
    """Whether the forwards of ``model`` (and of models compared with it) may run each
    prompt once per group: requested, the model does not checkpoint activations, and it
    is not sharded by FSDP2. Sharing runs every layer twice per forward (prompt, then
    completions), and FSDP2 keeps a layer gathered from its first backward use to its
    second: measured on 2 gloo ranks, every layer's full parameters were alive at once
    during backward (the whole model, where FSDP should hold one layer)."""
    return requested and not activation_checkpointing(model) and not fsdp_units(model)


def kept_positions(length: int, keep: int, device: torch.device) -> torch.Tensor:
    """``logits_to_keep`` for the last ``keep`` of ``length`` positions, as indices: Hugging
    Face gathers indexed positions into a contiguous tensor (a slice would stay strided),
    so the output head computes the same bits whether or not its weight requires grad."""
    return torch.arange(length - keep, length, device=device)


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
    runs once when ``share_prompts``. Position t predicts completion token t.

    Which path runs depends only on the arguments (``share_prompts``, whether a prompt
    repeats, the completion width), so equal inputs take equal paths in any mode. Sharing
    is refused for a model that checkpoints activations while training with gradients:
    Hugging Face would drop the prompt's cache and the completion pass would not see it.
    """
    width = completion_ids.shape[1]
    groups, inverse = torch.unique(group, return_inverse=True)
    if share_prompts and model.training and torch.is_grad_enabled() and activation_checkpointing(model):
        raise ValueError(
            "share_prompts=True with activation checkpointing in training: the prompt's KV cache would be "
            "dropped; choose the path once with shares_prompts(model) and use it for every compared forward"
        )
    if not share_prompts or len(groups) == len(group) or width < 2:
        inputs = joined_inputs(prompt_ids, prompt_mask, completion_ids, completion_mask)
        # Only the positions that predict completion tokens need the vocabulary projection.
        keep = kept_positions(inputs["input_ids"].shape[1], width + 1, completion_ids.device)
        return model(**inputs, use_cache=False, logits_to_keep=keep).logits[:, :-1]

    # One row per prompt: the first row of each group.
    rows = torch.arange(len(group), device=inverse.device)
    first = torch.full((len(groups),), len(group), device=inverse.device).scatter_reduce(0, inverse, rows, "amin")
    prompt_ids, prompt_mask = prompt_ids[first], prompt_mask[first].long()
    cache_arg = cache_argument(model)
    cache = DynamicCache(config=model.config)
    out = model(
        input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True, logits_to_keep=kept_positions(prompt_ids.shape[1], 1, prompt_ids.device), **{cache_arg: cache},
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
