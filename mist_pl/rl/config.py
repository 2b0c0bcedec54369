"""``GRPOConfig``: every knob of the GRPO update, and the one place batch sizes are defined.

Batch semantics (per device; every rank does the same on its own prompts)::

    one generation round  = one dataloader batch of  P = prompts_per_round  prompts
                            x  G = num_generations  completions each
                            =  P * G  rollouts, sampled in one batched call

    the round's rollouts are shuffled and cut into  steps_per_round  equal slices;
    each slice is one optimizer step of  P * G / steps_per_round  rollouts, run as
    grad_accum_steps = (P * G / steps_per_round) / micro_batch_size  forward/backward
    passes of  micro_batch_size  rollouts each.

    this pass is repeated  num_iterations  (mu) times over the same rollouts, so

    optimizer steps per round = steps_per_round * num_iterations

The trainer's ``max_steps`` counts optimizer steps. The prompt DataModule's
``batch_size`` must equal ``prompts_per_round`` (write ``${model.init_args.grpo.prompts_per_round}``
in the YAML so it is stated once); the module checks it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from mist_pl.rl.mismatch import IS_MODES
from mist_pl.runtime.safety import RUNNERS as REWARD_RUNNERS

LOSS_AGGREGATIONS = ("token", "sequence", "constant")
ADVANTAGE_SCALINGS = ("group", "batch", "none")


class BatchSizeError(ValueError):
    """The batch-size fields do not divide into whole optimizer steps and micro-batches."""


@dataclass
class GRPOConfig:
    """Group Relative Policy Optimization settings (see the module docstring for batch sizes).

    Args:
        prompts_per_round: P, prompts per generation round on each device.
        num_generations: G, completions sampled per prompt (the group size).
        steps_per_round: optimizer steps per pass over a round's rollouts.
        micro_batch_size: rollouts per forward/backward pass (memory knob); gradient
            accumulation steps follow from it.
        num_iterations: mu, passes over each round's rollouts. Above 1 (or with
            ``steps_per_round`` above 1) later steps are off-policy and the ratio uses
            log-probs stored right after sampling.
        beta: weight of the KL penalty (k3 estimator) to the frozen reference model.
            0 keeps no reference model at all and logs no KL.
        epsilon_low / epsilon_high: clip range ``[1 - low, 1 + high]`` of the ratio;
            ``epsilon_high > epsilon_low`` is DAPO's clip-higher.
        advantage_scaling: divide ``reward - group mean`` by the group's std (``group``,
            GRPO), by the whole round's std (``batch``), or not at all (``none``, Dr. GRPO).
        loss_aggregation: ``token`` (sum over every completion token of the optimizer
            step / their number, DAPO), ``sequence`` (mean per completion, then mean over
            completions, original GRPO) or ``constant`` (sum / (completions *
            max_new_tokens), Dr. GRPO's length-unbiased normalization).
        drop_zero_variance_groups: leave groups whose rewards all agree out of the loss
            (numerator and denominator, KL included): they carry no policy gradient and
            would otherwise dilute the others.
        ref_refresh_steps: copy the policy into the reference model every this many
            optimizer steps (0: never).
        max_grad_norm: clip the global gradient norm (0 or None: no clipping). Manual
            optimization cannot use the trainer's ``gradient_clip_val``.
        reward_timeout_s: wall-clock limit of one reward function call on the batch.
        reward_runner: ``process``: worker processes; a call past ``reward_timeout_s`` is
            killed. ``thread``: no start-up cost, but a call past the limit is only
            abandoned: its thread keeps running, holding a CPU core, until the call returns
            (for a reward that never returns, until the run ends). Threads are for quick,
            trusted rewards; use ``process`` for slow or untrusted ones. None (the
            default): ``$MIST_PL_REWARD_RUNNER`` if set, else ``process``; a value set here
            wins over the variable.
        advantage_eps: added to the std before dividing.
        share_prompt_forward: in the policy/reference forward, run each prompt once per
            group and reuse its keys/values for the G completions (same result, far less
            compute with long prompts; off automatically with gradient checkpointing or
            FSDP2 sharding, for the policy, old and reference log-probs alike; see
            :func:`mist_pl.rl.forward.shares_prompts`).
        defer_grad_sync: under FSDP2, keep each layer's unsharded fp32 gradients on every
            rank until the last micro-batch of an optimizer step and reduce-scatter once
            (fewer collectives; 4 bytes x parameters more per GPU, ~30 GB at 7B). Off:
            reduce-scatter after every micro-batch, so only sharded gradients accumulate.
            ``python -m mist_pl.plan`` counts either.
        sampler_is_mode: truncated importance-sampling correction of the gap between a
            rollout engine that returns its own log-probs (``sampling.engine: vllm``) and
            the trainer: ``token_truncate`` (default: each token's policy-gradient term
            times ``min(p_old / q, sampler_is_cap)``), ``token_mask``,
            ``sequence_truncate``, ``sequence_mask`` or ``none`` (measure only); see
            :mod:`mist_pl.rl.mismatch`. The ``hf`` engine samples with the trainer's own
            forward: nothing to correct, and this is not used.
        sampler_is_cap: the upper bound of the importance weight (truncate) or the
            largest weight kept (mask). Default 2, the TIS paper's and verl's; TRL uses
            sequence_mask with 3.
    """

    prompts_per_round: int = 4
    num_generations: int = 8
    steps_per_round: int = 1
    micro_batch_size: int = 8
    num_iterations: int = 1
    beta: float = 0.04
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    advantage_scaling: str = "group"
    loss_aggregation: str = "token"
    drop_zero_variance_groups: bool = False
    ref_refresh_steps: int = 0
    max_grad_norm: float | None = 1.0
    reward_timeout_s: float = 10.0
    reward_runner: str | None = None
    advantage_eps: float = 1e-4
    share_prompt_forward: bool = True
    defer_grad_sync: bool = False
    sampler_is_mode: str = "token_truncate"
    sampler_is_cap: float = 2.0

    def __post_init__(self) -> None:
        for name in ("prompts_per_round", "num_generations", "steps_per_round", "micro_batch_size", "num_iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BatchSizeError(f"grpo.{name}={value!r} must be a positive integer")
        if self.num_generations < 2:
            raise BatchSizeError(
                f"grpo.num_generations={self.num_generations} must be at least 2: advantages compare completions of a group"
            )
        rollouts = self.rollouts_per_round
        if rollouts % self.steps_per_round:
            raise BatchSizeError(
                f"grpo.prompts_per_round * grpo.num_generations = {self.prompts_per_round} * {self.num_generations} "
                f"= {rollouts} rollouts per round do not split into grpo.steps_per_round={self.steps_per_round} equal optimizer steps"
            )
        if self.rollouts_per_step % self.micro_batch_size:
            raise BatchSizeError(
                f"{self.rollouts_per_step} rollouts per optimizer step (grpo.prompts_per_round * grpo.num_generations / "
                f"grpo.steps_per_round) do not split into micro-batches of grpo.micro_batch_size={self.micro_batch_size}"
            )
        if self.beta < 0:
            raise ValueError(f"grpo.beta={self.beta!r} must be >= 0")
        if not (0 <= self.epsilon_low < 1 and self.epsilon_high >= 0):
            raise ValueError(f"grpo.epsilon_low={self.epsilon_low!r} must be in [0, 1) and grpo.epsilon_high={self.epsilon_high!r} >= 0")
        if self.advantage_scaling not in ADVANTAGE_SCALINGS:
            raise ValueError(f"grpo.advantage_scaling={self.advantage_scaling!r} is not one of {ADVANTAGE_SCALINGS}")
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            raise ValueError(f"grpo.loss_aggregation={self.loss_aggregation!r} is not one of {LOSS_AGGREGATIONS}")
        if self.reward_runner is not None and self.reward_runner not in REWARD_RUNNERS:
            raise ValueError(f"grpo.reward_runner={self.reward_runner!r} is not one of {REWARD_RUNNERS}")
        if self.ref_refresh_steps < 0:
            raise ValueError(f"grpo.ref_refresh_steps={self.ref_refresh_steps!r} must be >= 0")
        if not self.reward_timeout_s > 0:
            raise ValueError(f"grpo.reward_timeout_s={self.reward_timeout_s!r} must be positive")
        if self.sampler_is_mode not in IS_MODES:
            raise ValueError(f"grpo.sampler_is_mode={self.sampler_is_mode!r} is not one of {IS_MODES}")
        if not self.sampler_is_cap >= 1:
            raise ValueError(f"grpo.sampler_is_cap={self.sampler_is_cap!r} must be >= 1: a cap below 1 would shrink "
                             "every on-policy token's gradient")

    # -- derived sizes: read these, never recompute them elsewhere ----------------------
    @property
    def rollouts_per_round(self) -> int:
        return self.prompts_per_round * self.num_generations

    @property
    def rollouts_per_step(self) -> int:
        return self.rollouts_per_round // self.steps_per_round

    @property
    def grad_accum_steps(self) -> int:
        return self.rollouts_per_step // self.micro_batch_size

    @property
    def optimizer_steps_per_round(self) -> int:
        return self.steps_per_round * self.num_iterations

    @property
    def needs_old_logprobs(self) -> bool:
        """Whether some update runs on a policy that already moved since sampling."""
        return self.optimizer_steps_per_round > 1

    def describe(self) -> str:
        return (
            f"one round = {self.prompts_per_round} prompts x {self.num_generations} completions = "
            f"{self.rollouts_per_round} rollouts -> {self.optimizer_steps_per_round} optimizer steps "
            f"({self.steps_per_round} per pass x {self.num_iterations} passes) of {self.rollouts_per_step} rollouts, "
            f"{self.grad_accum_steps} micro-batches of {self.micro_batch_size}"
        )
