"""Sample completions for tokenized prompts with the RL stage's own sampler.

Uses :class:`mist_pl.rl.sampling.HFSampler` (batched prefill shared by a prompt's
samples, KV cache, stop at ``</answer>`` / EOS, early exit when every row is done), so
evaluation measures the decoding the GRPO module trains with. Sampling runs under
:func:`torch.random.fork_rng` with its own seed: evaluating in the middle of training
neither depends on nor disturbs the training run's random stream.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from mist_pl.models.chat import left_pad
from mist_pl.rl.sampling import HFSampler, SamplingConfig

STOP_STRINGS = ["</answer>"]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def sample_completions(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    num_samples: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int = 8,
    seed: int = 0,
    all_finished: Callable[[bool], bool] | None = None,
    top_p: float = 1.0,
    top_k: int = 0,
) -> list[list[str]]:
    """``num_samples`` completions per prompt (greedy at temperature 0), as text with
    control tokens removed; ``batch_size`` prompts go into one sampler call. ``top_p``
    and ``top_k`` filter the tempered distribution (1.0 and 0: off). Samples are
    reproducible for the same seed and batch size (the batch layout decides which
    random numbers each row draws)."""
    if num_samples < 1 or batch_size < 1:
        raise ValueError("num_samples and batch_size must be at least 1")
    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                            stop_strings=list(STOP_STRINGS))
    sampler = HFSampler(config, tokenizer)
    device = _device(model)
    out: list[list[str]] = []
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        # A bar on a terminal only (tqdm disables itself elsewhere): a 7B evaluation takes minutes.
        bar = tqdm(total=len(prompts), unit="prompt", desc=f"sampling x{num_samples}", leave=False, disable=None)
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            ids, mask = left_pad(chunk, sampler.pad_id)
            samples = sampler.generate(model, ids.to(device), mask.to(device), num_samples, all_finished=all_finished)
            lengths = samples.completion_lengths.tolist()
            texts = tokenizer.batch_decode(
                [row[:n] for row, n in zip(samples.completion_ids.tolist(), lengths)], skip_special_tokens=True
            )
            out.extend(texts[i * num_samples : (i + 1) * num_samples] for i in range(len(chunk)))
            bar.update(len(chunk))
        bar.close()
    return out
