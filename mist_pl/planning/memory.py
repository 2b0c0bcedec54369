"""Bytes per GPU of a training step under FSDP2 full sharding over every GPU.

Each term is what a Hugging Face Qwen2/Llama decoder keeps for backward, counted tensor by
tensor (checked against saved-tensor accounting of the real model, within ~5%):

* per layer and token, with ``a`` bytes per activation (2 in bf16, 4 in fp32), hidden
  ``h``, query width ``q``, key/value width ``kv``, MLP width ``i``:
  two RMSNorms ``2 (4h + 2ah)`` (the fp32 upcast of the input, the normalized and the
  scaled output), attention ``a (3q + 2kv)`` (RoPE'd queries and keys, values, kernel
  output and the o_proj input; flash/SDPA kernels store no scores), SwiGLU ``4ai``;
* with activation checkpointing only each layer's input ``ah``, plus one layer at a time
  recomputed in backward;
* the vocabulary projection: ~12 bytes per token x vocabulary at its peak (fp32 logits or
  their fp32 copy, log-softmax output, and its gradient pair at the start of backward);
  GRPO adds the fp32 entropy over the vocabulary: 16 bytes;
* sharded fp32 master weights, fp32 gradients and AdamW's two fp32 moments (8-bit AdamW:
  one byte each); the unsharded bf16 copy of the layer being computed plus the prefetched
  one, one layer's unsharded gradients, and the root unit (embeddings, output head);
* gradients are reduce-scattered after every micro-batch (Lightning does so for CPT/SFT
  under ModelParallelStrategy, GRPO by default), so only sharded ones accumulate. GRPO
  with ``grpo.defer_grad_sync: true`` keeps every layer's unsharded fp32 gradient on every
  rank until the step's last micro-batch instead: ``4 x parameters`` bytes in place of the
  sharded gradients (measured on 2 gloo ranks: tests/rl/test_grpo_memory.py);
* GRPO sampling with the ``hf`` engine: the whole bf16 model gathered
  (``unshard_for_generation``) and the KV cache of every rollout of the round. With the
  ``vllm`` engine: the engine's share of the GPU (``sampling.vllm_gpu_memory_utilization``
  x the GPU's memory: its weights, activations and KV cache all live inside it) plus the
  one tensor gathered at a time to push the weights (the embedding, the largest); while
  training, the same share again unless the engine sleeps (``sampling.vllm_sleep``,
  level 2: weights and KV cache freed; what it keeps, CUDA graphs, falls in the
  reserve below).

A fixed reserve (``overhead_gb``) stands for the CUDA context, NCCL buffers and allocator
fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mist_pl.planning.dims import ModelDims
from mist_pl.planning.workload import Workload

GiB = 2**30
REDUCE_BYTES = 4  # FSDP2 reduces (and accumulates unsharded) gradients in fp32 (apply_fsdp2's reduce_dtype)


def layer_activation_bytes(d: ModelDims, a: int, repeat_kv: bool) -> int:
    """Bytes one decoder layer keeps for backward, per token (no checkpointing)."""
    h, q, i = d.hidden, d.q_dim, d.intermediate
    kv = q if repeat_kv else d.kv_dim  # SDPA with a mask repeats grouped keys/values to all heads
    norms = 2 * (4 * h + 2 * a * h)
    attention = a * (3 * q + 2 * kv) + 4 * d.heads  # + fp32 log-sum-exp per head
    return norms + attention + 4 * a * i


def layer_backward_bytes(d: ModelDims, a: int) -> int:
    """Gradients alive inside one layer's backward, per token: the one arriving on the
    residual stream and the MLP's widest (its saved activations are freed as it goes)."""
    return a * (d.hidden + d.intermediate)


@dataclass
class MemoryPlan:
    components: dict[str, float] = field(default_factory=dict)  # name -> bytes per GPU
    phase: str = "training"  # which phase is the peak (GRPO: sampling or training)

    @property
    def total(self) -> float:
        return sum(self.components.values())


def activation_bytes(d: ModelDims, w: Workload, rows: int, logit_tokens: int, attention: str,
                     checkpointing: bool) -> float:
    """Peak activation memory of one micro batch of ``rows`` x ``w.seq_len`` tokens."""
    a, tokens = w.compute_bytes, rows * w.seq_len
    flash = attention == "flash_attention_2"
    per_layer = layer_activation_bytes(d, a, repeat_kv=not flash)
    final = 4 * d.hidden + 2 * a * d.hidden + 8  # final norm + token ids
    logits = (16 if w.stage == "grpo" else 12) * d.vocab * logit_tokens
    mask = 0 if flash else rows * w.seq_len * w.seq_len  # the 4-D boolean mask SDPA gets
    if not checkpointing:
        return tokens * (d.layers * per_layer + final) + logits + mask
    stored = tokens * (d.layers * a * d.hidden + final) + mask
    # Peak: at the loss (logits alive) or in a layer's recomputed backward (logits freed).
    return stored + max(logits, tokens * (per_layer + layer_backward_bytes(d, a)))


def deferred_grad_sync(w: Workload, world: int) -> bool:
    """Whether unsharded gradients accumulate over the micro-batches of a step: GRPO with
    ``defer_grad_sync`` on a sharded run whose steps have several micro-batches."""
    return w.stage == "grpo" and w.defer_grad_sync and world > 1 and w.accumulate > 1


def plan_memory(d: ModelDims, w: Workload, world: int, attention: str = "flash_attention_2",
                overhead_gb: float = 3.0, gpu_mem_gb: float = 80.0) -> MemoryPlan:
    """The components of the phase with the larger peak (GRPO: sampling or training).
    ``gpu_mem_gb`` sizes a vLLM engine's share (GB of 1e9 bytes, as ``--gpu-mem-gb``)."""
    phases = phase_components(d, w, world, attention, gpu_mem_gb * 1e9)
    overhead = {"CUDA context, NCCL, fragmentation": overhead_gb * GiB} if overhead_gb else {}
    phase = max(phases, key=lambda name: sum(phases[name].values()))
    return MemoryPlan({**phases[phase], **overhead}, phase=phase)


def phase_components(d: ModelDims, w: Workload, world: int, attention: str = "flash_attention_2",
                     gpu_mem_bytes: float = 80e9) -> dict[str, dict[str, float]]:
    """Bytes per GPU by component of each phase: ``training`` and, for GRPO, ``sampling``.
    ``gpu_mem_bytes``: one GPU's memory, which a vLLM engine takes its share of."""
    P, mb, cb = d.params, w.master_bytes, w.compute_bytes
    static = {"parameters (sharded)": P * mb / world}
    if deferred_grad_sync(w, world):
        static["gradients (unsharded, deferred)"] = P * REDUCE_BYTES
    else:
        static["gradients (sharded)"] = P * mb / world
    static["optimizer state"] = P * (2 if w.optimizer == "adamw8bit" else 2 * mb) / world
    if w.reference:
        static["reference model (sharded)"] = P * mb / world
    gathered = 0.0
    if world > 1:  # FSDP2 all-gathers units around their forward/backward
        root = d.embedding_params * (1 if d.tied else 2)
        gathered = 2 * d.layer_params * cb + d.layer_params * (cb + 4) + root * cb
    logit_tokens = w.micro_batch * (w.completion_len + 1 if w.stage == "grpo" else w.seq_len)
    acts = activation_bytes(d, w, w.micro_batch, logit_tokens, attention, w.checkpointing)
    training = {**static, "FSDP unsharded units": gathered, "activations + logits": acts}
    if w.stage != "grpo":
        return {"training": training}

    sampling = {k: v for k, v in static.items() if not k.startswith("gradients")}  # zeroed to None
    if w.engine == "vllm":
        engine = w.engine_memory_share * gpu_mem_bytes
        sampling.update({"vLLM engine (its memory share)": engine,
                         "weight push (one tensor gathered)": d.embedding_params * cb})
        if not w.engine_sleeps:
            training["vLLM engine (awake while training)"] = engine
    else:
        context = w.seq_len  # prompt + completion
        kv_cache = w.rollouts_per_round * context * d.layers * 2 * d.kv_dim * cb
        decode_logits = w.rollouts_per_round * d.vocab * 4 * 3  # fp32 logits, softmax, sorted for top-p
        full_model = P * cb if (w.unshard_for_generation and world > 1) else gathered
        sampling.update({"gathered model for sampling": full_model, "KV cache of the round": kv_cache,
                         "sampling logits": decode_logits})
    stored = 1 + w.reference + (w.optimizer_steps_per_round > 1) + (w.engine == "vllm")  # + the engine's log-probs
    rollouts = w.rollouts_per_round * w.completion_len * 4 * stored
    training["stored rollouts and log-probs"] = rollouts
    return {"training": training, "sampling": sampling}
