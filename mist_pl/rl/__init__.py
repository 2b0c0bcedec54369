"""Online RL (GRPO) building blocks; the Lightning module is :mod:`mist_pl.modules.grpo`.

Read in this order:

* ``config``: :class:`GRPOConfig`, every option of the update and the one statement of
  what a generation round is (prompts x G completions -> optimizer steps).
* ``sampling``: the sampler interface, the KV-cached in-module sampler (one prefill per
  prompt, stop strings, early stop, FSDP2-safe).
* ``vllm_engine``: ``sampling.engine: vllm``, an in-process vLLM engine built from the
  policy and given its weights after every optimizer step (``weights``: what it is
  given, LoRA merged, tied heads included, FSDP2 one tensor at a time); ``engines``
  picks the sampler from the config.
* ``mismatch``: the gap between the engine's and the trainer's log-probs, and the
  truncated importance weights that correct for it.
* ``rewards``: reward functions by import path (by default the task's own,
  ``Task.rewards``), called through the runtime core's time-bounded
  ``safe_reward_call``, weighted, plus the tasks' top-1 metric.
* ``advantages``: group-normalized advantages (std scaling on/off, unscored completions).
* ``rollouts``: one round's tensors; micro-batches cropped to the columns they use.
* ``forward``: completion logits with each prompt run once per group.
* ``losses``: token log-probs, clipped surrogate (DAPO clip-higher), k3 KL, aggregation
  (token / sequence / Dr. GRPO constant).
* ``toy``: a task a random tiny model learns in minutes on CPU (tests, tiny config).
"""
