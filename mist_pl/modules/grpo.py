"""Online RL with GRPO: sample in the module, score with rule-based rewards, update.

One ``training_step`` is one generation round (sizes: :mod:`mist_pl.rl.config`)::

    prompts --sampler--> P x G completions --rewards--> group advantages
            --(old / reference log-probs)--> steps_per_round x num_iterations optimizer steps

Manual optimization, because one dataloader batch (a round of prompts) feeds several
optimizer steps: Lightning's automatic loop ties exactly one step to one batch and
would force the rollouts to be smuggled between batches. Here the round is sampled
once and replayed, gradient accumulation and clipping are explicit, and every
optimizer step advances ``trainer.global_step`` (so ``max_steps`` counts optimizer
steps). The trainer's ``gradient_clip_val`` / ``accumulate_grad_batches`` do not apply:
use ``grpo.max_grad_norm`` and ``grpo.micro_batch_size``.

Everything that is a collective under FSDP2 is decided jointly by all ranks: the end
of sampling, skipping a step whose loss has no tokens, skipping a non-finite loss.

Policy, old and reference log-probs go through one computation: the forward path
(prompt shared per group or not) is chosen once per run from the policy
(:func:`~mist_pl.rl.forward.shares_prompts`), and the round is cut into micro-batches
once, right after sampling; the stored old and reference log-probs are computed on
exactly those micro-batches and every update replays them, so they agree bit for bit
while the weights agree (why anything else differs in bf16: :mod:`mist_pl.rl.forward`).
``train/logprob_gap_*_max`` logs the largest per-token difference at each round's first
optimizer step, where the policy is still the one that sampled (0 is the check).

The rollout engine (``sampling.engine``): ``hf`` samples with the policy's own forward;
``vllm`` is an in-process vLLM engine (:mod:`mist_pl.rl.vllm_engine`), started at the
first round from the policy's weights, given the new weights before a round whenever an
optimizer step changed them (``perf/weight_sync_s``), put to sleep between rounds on a
GPU and closed at teardown. Its kernels are not the trainer's, so the log-prob it
sampled a token with differs from the trainer's: the old log-probs (and so the ratio and
the step-0 checks above) still come from the trainer, and the gap is measured on every
completion token (``sampler/logprob_diff_mean|max``, ``sampler/kl``) and corrected with
truncated importance weights on the policy-gradient term (``grpo.sampler_is_mode``,
:mod:`mist_pl.rl.mismatch`). On-policy (one optimizer step per round) the old log-probs
are the first step's own forward, so measuring costs no extra forward pass.

The reference model: with LoRA it is the policy's own base with the adapters disabled
(one base copy); otherwise a second model, sharded like the policy under FSDP2 and
filled shard to shard (never whole on a rank). It is left out of checkpoints unless
``ref_refresh_steps`` changes it: a resumed run rebuilds it from the starting weights,
which is what it holds.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from typing import Any

import torch
import torch.distributed as dist

from mist_pl.data.rl_prompts import RESPONSE_PREFIX_COLUMN
from mist_pl.models.factory import ModelConfig, build_model, context_limit
from mist_pl.models.sharding import build_sharded, sharded_copy
from mist_pl.modules.base import LMModule, as_config
from mist_pl.modules.checks import check_rollout_len
from mist_pl.modules.optim import OptimConfig, build_scheduler
from mist_pl.rl.advantages import group_advantages
from mist_pl.rl.config import BatchSizeError, GRPOConfig
from mist_pl.rl.engines import build_sampler
from mist_pl.rl.forward import completion_logits, shares_prompts
from mist_pl.rl.losses import aggregation_weights, grpo_loss, token_entropy, token_logprobs
from mist_pl.rl.metrics import mismatch_metrics, round_metrics, task_metrics, update_metrics
from mist_pl.rl.mismatch import MismatchStats, importance_weights
from mist_pl.rl.rewards import RewardComputer, RewardSpec, task_reward_specs
from mist_pl.rl.rollouts import Rollouts
from mist_pl.rl.sampling import SamplingConfig

log = logging.getLogger(__name__)


def _fsdp_module_type():
    try:
        from torch.distributed.fsdp import FSDPModule

        return FSDPModule
    except ImportError:  # pragma: no cover
        return ()


class GRPOModule(LMModule):
    """GRPO on a causal LM (see :class:`~mist_pl.modules.base.LMModule` for ``lm``/``optim``).

    Args:
        grpo: the update's settings and batch sizes (:class:`GRPOConfig`).
        sampling: how completions are sampled (:class:`SamplingConfig`).
        rewards: reward functions by import path with weights (:class:`RewardSpec`); when
            empty, the rewards ``task`` declares (:attr:`mist_pl.tasks.registry.Task.rewards`).
        task: the task trained on; its declared rewards are the default for ``rewards``.
        sample_rows: completions kept from each round for the sample table callback.
    """

    def __init__(
        self,
        lm: ModelConfig = ModelConfig(),
        optim: OptimConfig = OptimConfig(),
        grpo: GRPOConfig = GRPOConfig(),
        sampling: SamplingConfig = SamplingConfig(),
        rewards: list[RewardSpec] | None = None,
        task: str | None = None,
        sample_rows: int = 16,
        max_bad_steps: int = 5,
        init_from_ckpt: str | None = None,
    ) -> None:
        super().__init__(lm=lm, optim=optim, max_bad_steps=max_bad_steps, init_from_ckpt=init_from_ckpt)
        self.automatic_optimization = False
        self.grpo = as_config(GRPOConfig, grpo)
        self.sampling = as_config(SamplingConfig, sampling)
        if not rewards:
            if task is None:
                raise ValueError("model.rewards: configure at least one reward function, e.g. "
                                 "[{fn: mist_pl.tasks.answer.format_reward, weight: 1.0}], or set model.task "
                                 "to use that task's own rewards")
            try:
                rewards = task_reward_specs(task)
            except KeyError as error:
                raise ValueError(f"model.task={task!r}: {error.args[0]}") from None
        self.reward_specs = [r if isinstance(r, RewardSpec) else RewardSpec(**r) for r in rewards]
        self.rewards = RewardComputer(self.reward_specs, self.grpo.reward_timeout_s, self.grpo.reward_runner)
        lora = self.lm_config.lora
        if self.sampling.engine == "vllm" and lora is not None and lora.quantize_4bit:
            raise ValueError("sampling.engine='vllm' with lm.lora.quantize_4bit: the engine is given the policy's "
                             "weights with the adapters merged, which a 4-bit base cannot give exactly; use "
                             "sampling.engine: hf, or LoRA without quantize_4bit")
        self.sampler = build_sampler(self.sampling, self.tokenizer)
        self.sample_rows = sample_rows
        if self.grpo.ref_refresh_steps and self.lm_config.lora is not None:
            raise ValueError(
                f"grpo.ref_refresh_steps={self.grpo.ref_refresh_steps} with lm.lora: the reference is the base model "
                "with the adapters disabled, which refreshing would have to merge; set ref_refresh_steps: 0"
            )
        self.reference: torch.nn.Module | None = None  # see _set_reference
        self._share_prompts = self.grpo.share_prompt_forward  # decided from the built model in configure_model
        self.last_round: list[dict] = []  # read by mist_pl.callbacks.samples.SampleTable
        self.save_hyperparameters({
            **self.hparams_dict(),
            "grpo": asdict(self.grpo),
            "sampling": asdict(self.sampling),
            "rewards": [asdict(r) for r in self.reward_specs],
            "task": task,
            "sample_rows": sample_rows,
        })

    # -- models ---------------------------------------------------------------------------
    def configure_model(self) -> None:
        super().configure_model()  # the policy, sharded under ModelParallelStrategy
        # One forward path for policy, old and reference log-probs (see the module docstring).
        self._share_prompts = shares_prompts(self.model, self.grpo.share_prompt_forward)
        if self.grpo.beta > 0 and self.reference is None and not self.reference_is_base:
            self._set_reference(self._build_reference())

    @property
    def reference_is_base(self) -> bool:
        """With LoRA the reference is the policy's base with its adapters disabled."""
        return self.grpo.beta > 0 and self.lm_config.lora is not None

    @property
    def has_reference(self) -> bool:
        return self.reference is not None or self.reference_is_base

    def _build_reference(self) -> torch.nn.Module:
        """A frozen copy of the policy's current (starting) weights."""
        if self._sharded:
            # Created on the meta device and sharded like the policy, then filled shard to
            # shard: no rank ever holds the whole reference. Never trained: it reshards
            # its root after forward too.
            first = next(self.model.parameters())
            reference = build_sharded(self.model.config, None, self.device_mesh["data_parallel"],
                                      self.model.config._attn_implementation, first.dtype, self.shard_device(),
                                      self.param_dtype(), checkpointing=False, trains=False)
            sharded_copy(reference, self.model)
        else:
            # The weights may come from init_from_ckpt: copy the policy's, not the folder's.
            reference = build_model(self.lm_config, self.tokenizer, **self.runtime())
            reference.load_state_dict(self.model.state_dict())
        # Left in train mode (logprobs_of switches to eval for every forward it makes).
        reference.requires_grad_(False)
        return reference

    def _set_reference(self, reference: torch.nn.Module) -> None:
        """Keep the reference as a submodule (in checkpoints) only when training changes it
        (``ref_refresh_steps``); otherwise as a plain attribute, out of the state dict: a
        resumed run rebuilds it in configure_model, before the checkpoint is restored, from
        the starting weights, which are all it ever holds."""
        if self.grpo.ref_refresh_steps:
            self.reference = reference
        else:
            object.__setattr__(self, "reference", reference)  # not registered: not saved

    def _place_reference(self) -> None:
        """An unregistered reference is not moved or converted with the module: give it
        the policy's device and dtype (a sharded one already lives on the mesh's device)."""
        reference = self.reference
        if reference is None or "reference" in self._modules or self._sharded:
            return
        first = next(self.model.parameters())
        reference.to(device=first.device, dtype=first.dtype)

    @torch.no_grad()
    def refresh_reference(self) -> None:
        """Copy the policy's weights into the reference (same sharding, so shard to shard)."""
        for ref_param, param in zip(self.reference.parameters(), self.model.parameters()):
            ref_param.copy_(param)

    def configure_optimizers(self):
        config = super().configure_optimizers()
        # estimated_stepping_batches counts rounds unless max_steps is set; the schedule
        # runs over optimizer steps.
        if self.trainer.max_steps is None or self.trainer.max_steps < 0:
            rounds = self.trainer.estimated_stepping_batches
            total = int(rounds * self.grpo.optimizer_steps_per_round) if math.isfinite(rounds) else 10**9
            config["lr_scheduler"]["scheduler"] = build_scheduler(config["optimizer"], total, self.optim_config)
        return config

    def on_fit_start(self) -> None:
        cfg = self.grpo
        facts = self.data_facts()
        if facts is not None and facts.batch_size != cfg.prompts_per_round:
            raise BatchSizeError(
                f"data.batch_size={facts.batch_size} must equal grpo.prompts_per_round={cfg.prompts_per_round} "
                "(one batch is one generation round); write batch_size: ${model.init_args.grpo.prompts_per_round}"
            )
        check_rollout_len(facts.max_prompt_tokens if facts is not None else None, self.sampling.max_new_tokens,
                          self.lm_config, self.model)
        self._place_reference()
        if self.sampling.engine == "vllm":
            self._configure_engine(facts.max_prompt_tokens if facts is not None else None)
        log.info("GRPO: %s; max_steps counts optimizer steps", cfg.describe())

    def _configure_engine(self, max_prompt_tokens: int | None) -> None:
        """What the vLLM engine needs from the run before it starts: its longest sequence
        (the data's prompt cap + max_new_tokens, within the model's context) and the dtype
        the trainer computes in (bf16 under bf16 precision, else the weights' own)."""
        sampler = self.sampler
        if sampler.max_model_len is None:
            wanted = max_prompt_tokens + self.sampling.max_new_tokens if max_prompt_tokens else None
            sampler.max_model_len = context_limit(self.model, self.lm_config, wanted)
        sampler.dtype = self.param_dtype() or next(self.model.parameters()).dtype

    def teardown(self, stage: str) -> None:
        # The engine holds memory (and on a GPU, most of it): never past the run.
        self.sampler.close()
        super().teardown(stage)

    # -- collectives (no-ops on one process) -------------------------------------------
    def _world(self) -> int:
        """Processes in the default group, which ``_all_reduce`` sums over. A sum over
        every process divided by this is the mean per process, which is the mean per
        data-parallel replica too: ranks of one replica hold the same rollouts. Which share
        of the *data* a rank reads is ``data.contract.data_parallel_place``, not this."""
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    def _all_reduce(self, value: float, op: str) -> float:
        if self._world() == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op])
        return float(tensor.item())

    def _all_finished(self, local_done: bool) -> bool:
        return self._all_reduce(1.0 if local_done else 0.0, "min") == 1.0

    # -- one round ----------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> None:
        cfg = self.grpo
        if batch["input_ids"].shape[0] != cfg.prompts_per_round:
            raise BatchSizeError(
                f"got a batch of {batch['input_ids'].shape[0]} prompts; grpo.prompts_per_round={cfg.prompts_per_round} "
                "(data.batch_size must equal it)"
            )
        rollouts, metrics, per_task = self.collect_rollouts(batch)
        train_start, trained_tokens = time.perf_counter(), 0
        step_stats: list[dict] = []
        # The round's micro-batches, cut once (collect_rollouts); every pass replays them,
        # so each one is exactly the tensors its stored log-probs were computed on.
        parts = rollouts.micro_rows
        steps = [parts[i : i + cfg.grad_accum_steps] for i in range(0, len(parts), cfg.grad_accum_steps)]
        for _ in range(cfg.num_iterations):
            for step_parts in steps:
                stats = self.optimizer_step_on(rollouts, step_parts, batch, batch_idx)
                trained_tokens += stats.pop("processed_tokens")
                step_stats.append(stats)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_s = time.perf_counter() - train_start
        metrics.update(self._update_metrics(step_stats))
        metrics["perf/train_tokens_per_s"] = trained_tokens / max(train_s, 1e-9)
        metrics["perf/train_s"] = train_s
        metrics["train/optimizer_step"] = float(self.global_step)
        sync = self._world() > 1
        self.log_dict(metrics, on_step=True, on_epoch=False, sync_dist=sync, batch_size=cfg.prompts_per_round)
        # Per-task keys depend on the data a rank drew: never a collective (ranks may differ).
        if per_task:
            self.log_dict(per_task, on_step=True, on_epoch=False, batch_size=cfg.prompts_per_round)
        self.log("reward", metrics["reward/mean"], prog_bar=True, on_step=True, logger=False, batch_size=cfg.prompts_per_round)

    @torch.no_grad()
    def collect_rollouts(self, batch: dict) -> tuple[Rollouts, dict, dict]:
        """Sample, score and prepare one round; returns (rollouts, metrics, per-task metrics)."""
        cfg, G = self.grpo, self.grpo.num_generations
        samples = self.sampler.generate(
            self.model, batch["input_ids"], batch["attention_mask"], G, all_finished=self._all_finished
        )
        self.sampler.release()  # on a GPU a sleeping engine gives training its memory back
        lengths = samples.completion_lengths
        completions = self.tokenizer.batch_decode(
            [ids[:n] for ids, n in zip(samples.completion_ids.tolist(), lengths.tolist())], skip_special_tokens=True
        )
        columns = {k: [v for v in values for _ in range(G)] for k, values in batch["columns"].items()}
        # The prompt ended with the response prefix (e.g. "<think>"): rewards judge the
        # whole assistant turn, prefix included.
        prefixes = columns.get(RESPONSE_PREFIX_COLUMN) or [""] * len(completions)
        completions = [(p if isinstance(p, str) else "") + c for p, c in zip(prefixes, completions)]
        reward_start = time.perf_counter()
        scored = self.rewards(completions, columns)
        reward_s = time.perf_counter() - reward_start
        totals = torch.tensor([math.nan if r is None else r for r in scored.total], dtype=torch.float32)
        adv = group_advantages(totals, G, cfg.advantage_scaling, cfg.advantage_eps)

        device = samples.completion_ids.device
        in_loss = torch.ones(len(totals), dtype=torch.bool)
        if cfg.drop_zero_variance_groups:
            in_loss &= ~adv.zero_variance.repeat_interleave(G)
        # Shuffle whole groups, so micro-batches hold complete groups and each prompt is
        # run once per micro-batch (see mist_pl.rl.forward); cut once for the whole round.
        groups = torch.randperm(cfg.prompts_per_round, device=device)
        order = (groups[:, None] * G + torch.arange(G, device=device)).flatten()
        rollouts = Rollouts(
            prompt_ids=samples.prompt_ids,
            prompt_mask=samples.prompt_mask,
            completion_ids=samples.completion_ids,
            completion_mask=samples.completion_mask,
            loss_mask=samples.completion_mask.bool() & in_loss.to(device)[:, None],
            advantages=adv.values.to(device),
            sampler_logprobs=samples.logprobs,
            group=torch.arange(cfg.prompts_per_round, device=device).repeat_interleave(G),
            micro_rows=list(order.split(cfg.micro_batch_size)),
        )
        nonfinite = 0
        if cfg.needs_old_logprobs:
            rollouts.old_logprobs = self.logprobs_of(self.model, rollouts)
        if self.reference is not None:
            rollouts.ref_logprobs = self.logprobs_of(self.reference, rollouts)
        elif self.reference_is_base:
            with self.model.disable_adapter():  # LoRA: the base model is the reference
                rollouts.ref_logprobs = self.logprobs_of(self.model, rollouts)
        for stored in (rollouts.old_logprobs, rollouts.ref_logprobs):
            if stored is not None:
                # NaN/Inf stored log-probs would poison every later step: drop the rollout.
                bad = (~torch.isfinite(stored) & rollouts.loss_mask).any(-1)
                nonfinite += int(bad.sum())
                rollouts.loss_mask &= ~bad[:, None]

        metrics = round_metrics(samples, scored, totals, adv, reward_s, nonfinite)
        per_task = task_metrics(columns.get("task"), totals, scored.top1, scored.valid)
        self._keep_samples(columns, completions, scored, totals, adv.values)
        return rollouts, metrics, per_task

    @torch.no_grad()
    def logprobs_of(self, model: torch.nn.Module, rollouts: Rollouts) -> torch.Tensor:
        """Per-token log-probs of the completions under ``model``, on the round's own
        micro-batches (``rollouts.micro_rows``, cut by :meth:`collect_rollouts`), padded
        back to the round's width (NaN-free zeros where no token is)."""
        out = torch.zeros(rollouts.completion_ids.shape, dtype=torch.float32, device=rollouts.completion_ids.device)
        was_training = model.training
        model.eval()  # no dropout in stored log-probs
        try:
            for part in rollouts.micro_rows:
                micro = rollouts.micro_batch(part)
                logp, _ = self._forward(model, micro, entropy=False)
                out[part, : logp.shape[1]] = torch.where(micro.completion_mask.bool(), logp, 0.0)
        finally:
            model.train(was_training)
        return out

    def _forward(self, model: torch.nn.Module, micro: Rollouts, entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = completion_logits(model, micro, self._share_prompts)
        temperature = self.sampling.temperature or 1.0
        logp = token_logprobs(logits, micro.completion_ids, temperature)
        ent = token_entropy(logits.detach(), temperature) if entropy else None
        return logp, ent

    # -- one optimizer step -------------------------------------------------------------
    def optimizer_step_on(self, rollouts: Rollouts, parts: list[torch.Tensor], batch: dict, batch_idx: int) -> dict:
        """One optimizer step over the micro-batches ``parts`` (row indices of ``rollouts``)."""
        cfg = self.grpo
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        world = self._world()
        local_mask = rollouts.loss_mask[torch.cat(parts)]
        # Gradients are averaged over ranks, so per-rank normalizers are global counts / world.
        step_tokens = self._all_reduce(float(local_mask.sum()), "sum") / world
        step_sequences = self._all_reduce(float(local_mask.any(-1).sum()), "sum") / world
        stats = {"loss": 0.0, "tokens": 0.0, "kl": 0.0, "clipped_low": 0.0, "clipped_high": 0.0,
                 "ratio": 0.0, "entropy": 0.0, "processed_tokens": 0, "skipped": 0.0,
                 "gap_old": 0.0, "gap_ref": 0.0, "mismatch": None}
        if step_tokens == 0:
            # Nothing in the loss on any rank (e.g. every group dropped): no backward, and a
            # step without gradients, which AdamW skips entirely (no momentum drift). The
            # step still counts, so a round is always optimizer_steps_per_round steps.
            stats["skipped"] = 1.0
            self._empty_step(optimizer, scheduler)
            return stats
        # Reduce-scatter after every micro-batch unless told to defer: deferring keeps every
        # layer's unsharded fp32 gradient until the last one (4 bytes x parameters per GPU).
        defer = cfg.defer_grad_sync and isinstance(self.model, _fsdp_module_type())
        bad = False
        for i, part in enumerate(parts):
            micro = rollouts.micro_batch(part)
            if defer:
                self.model.set_requires_gradient_sync(i == len(parts) - 1)
            loss, loss_stats, entropy = self.micro_batch_loss(micro, step_tokens, step_sequences)
            if loss_stats.mismatch is not None:
                # Measured whether or not the loss turns out finite: the gap is about the sampler.
                stats["mismatch"] = stats["mismatch"] or MismatchStats()
                stats["mismatch"].add(loss_stats.mismatch)
            stats["processed_tokens"] += int(micro.model_inputs()["attention_mask"].sum())
            if self.guard_loss(loss, batch, batch_idx) is None:
                bad = True  # every rank saw it (guard_loss reduces); finish the step without it
                continue
            self.manual_backward(loss)
            mask = micro.loss_mask
            stats["loss"] += float(loss.detach())
            stats["tokens"] += loss_stats.tokens
            stats["kl"] += loss_stats.kl or 0.0
            stats["clipped_low"] += loss_stats.clipped_low
            stats["clipped_high"] += loss_stats.clipped_high
            stats["ratio"] += loss_stats.ratio
            stats["entropy"] += float(torch.where(mask, entropy, 0.0).sum())
            stats["gap_old"] = max(stats["gap_old"], loss_stats.max_gap_old)
            stats["gap_ref"] = max(stats["gap_ref"], loss_stats.max_gap_ref or 0.0)
        if defer:
            self.model.set_requires_gradient_sync(True)
        if bad:
            stats["skipped"] = 1.0
            self._empty_step(optimizer, None)  # a non-finite step leaves the schedule where it was
            return stats
        if cfg.max_grad_norm:
            self.configure_gradient_clipping(optimizer, cfg.max_grad_norm, "norm")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        self.sampler.weights_changed()  # an engine with its own copy pushes them before the next round
        if self.reference is not None and cfg.ref_refresh_steps and self.global_step % cfg.ref_refresh_steps == 0:
            self.refresh_reference()
        return stats

    def _empty_step(self, optimizer, scheduler) -> None:
        optimizer.zero_grad(set_to_none=True)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

    def micro_batch_loss(self, micro: Rollouts, step_tokens: float, step_sequences: float):
        """This micro-batch's share of the step loss: (loss, LossStats, token entropy);
        ``LossStats.mismatch`` holds the sampler-trainer gap when an engine sampled."""
        cfg = self.grpo
        logp, entropy = self._forward(self.model, micro, entropy=True)
        weights = aggregation_weights(micro.loss_mask, cfg.loss_aggregation, step_sequences, step_tokens,
                                      self.sampling.max_new_tokens)
        # On-policy (first step after sampling, mu = 1): old == current, the ratio is 1.
        old = micro.old_logprobs if micro.old_logprobs is not None else logp.detach()
        pg_weights, mismatch = None, None
        if micro.sampler_logprobs is not None:
            # The trainer's log-probs at sampling time against the engine's: measured on every
            # completion token, the weights applied to the loss tokens (mist_pl.rl.mismatch).
            measured = micro.completion_mask.bool() & torch.isfinite(old) & torch.isfinite(micro.sampler_logprobs)
            pg_weights, mismatch = importance_weights(old, micro.sampler_logprobs, measured,
                                                      cfg.sampler_is_mode, cfg.sampler_is_cap)
        loss, stats = grpo_loss(logp, old, micro.advantages, weights, cfg.epsilon_low, cfg.epsilon_high,
                                cfg.beta, micro.ref_logprobs, pg_weights)
        stats.mismatch = mismatch
        return loss, stats, entropy

    # -- metrics (mist_pl.rl.metrics) ------------------------------------------------------
    def _update_metrics(self, steps: list[dict]) -> dict:
        out = update_metrics(steps, self.has_reference, self.grpo.needs_old_logprobs, self._all_reduce)
        out["train/lr"] = self.optimizers().param_groups[0]["lr"]
        if self.sampling.engine != "hf":  # the hf engine is the trainer's forward: no gap to measure
            out.update(mismatch_metrics([s["mismatch"] for s in steps if s.get("mismatch") is not None],
                                        self._all_reduce))
        return out

    def _keep_samples(self, columns: dict, completions: list[str], scored, totals, advantages) -> None:
        rows = []
        for i in range(min(self.sample_rows, len(completions))):
            row: dict[str, Any] = {
                "prompt": (columns.get("prompt") or [""] * len(completions))[i],
                "completion": completions[i],
                "reward": None if math.isnan(float(totals[i])) else float(totals[i]),
                "advantage": float(advantages[i]),
            }
            for name, values in scored.per_function.items():
                row[name] = values[i]
            rows.append(row)
        self.last_round = rows
