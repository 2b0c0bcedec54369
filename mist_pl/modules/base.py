"""What every training stage shares: model construction (optionally from a previous
stage's checkpoint) and sharding, start-up checks against the data, optimizer and
schedule, gradient clipping that also works on sharded parameters, and the guard that
skips non-finite losses instead of letting them poison the weights.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch

from mist_pl.checkpoints.loops import normalize_epoch_end
from mist_pl.data.contract import DataFacts, ModelFedData, data_facts, data_parallel_place
from mist_pl.export import load_checkpoint, plain_weights
from mist_pl.models.attention import attention_dtype
from mist_pl.models.factory import ModelConfig, build_model, build_sharded_model, build_tokenizer
from mist_pl.models.lora import check_qlora
from mist_pl.models.sharding import apply_fsdp2
from mist_pl.modules.checks import check_data_size, check_seq_len, check_tokenizer
from mist_pl.modules.optim import OptimConfig, build_optimizer, build_scheduler

log = logging.getLogger(__name__)

def as_config(cls, value):
    """Accept a config object or the plain dict it was saved as in a checkpoint."""
    if value is None:
        return cls()
    return value if isinstance(value, cls) else cls(**value)


def compute_dtype(precision: str | None) -> torch.dtype | None:
    """The one bf16 choice: ``torch.bfloat16`` under a Lightning precision that starts with
    ``bf16`` (``bf16-mixed``, ``bf16-true``), else None (the weights' own dtype). FSDP2's
    compute dtype (:meth:`LMModule.param_dtype`) and the FLOPs peak of
    :class:`~mist_pl.callbacks.throughput.TokenThroughput` both follow it. Read from the
    one table of precision strings (:func:`mist_pl.models.attention.attention_dtype`)."""
    return torch.bfloat16 if attention_dtype(precision, None) is torch.bfloat16 else None


def log_data_metrics(trainer: L.Trainer | None) -> None:
    """Write the data module's due metrics (the realized mixture) to the loggers, from
    rank 0, at the step the current batch trains; :meth:`LMModule.on_train_batch_start`
    calls it. The data module counts a batch before that hook (``on_before_batch_transfer``),
    so the metrics include it. Written to the loggers directly: ``self.log`` would hold
    them back to the trainer's ``log_every_n_steps``."""
    datamodule = trainer.datamodule if trainer is not None else None
    if not isinstance(datamodule, ModelFedData) or not trainer.loggers or not trainer.is_global_zero:
        return
    metrics = datamodule.data_metrics()
    if metrics:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


class LMModule(L.LightningModule):
    """Base class of the CPT, SFT and GRPO modules.

    Args:
        lm: which model and tokenizer to start from (see :class:`ModelConfig`).
        optim: optimizer and learning-rate schedule (see :class:`OptimConfig`).
        max_bad_steps: after this many consecutive steps with a NaN/Inf loss the run saves
            a checkpoint and stops (``stop_reason`` says why; the CLI then exits non-zero);
            single bad steps are skipped, reported and logged as skipped.
        init_from_ckpt: start from the model weights of a Lightning checkpoint (file or
            sharded folder) of an earlier stage, e.g. CPT -> SFT. Weights only: optimizer,
            schedule, step and data position start fresh (use ``--ckpt_path`` to resume a
            run instead). LoRA adapters in it are merged first.
    """

    def __init__(
        self,
        lm: ModelConfig = ModelConfig(),
        optim: OptimConfig = OptimConfig(),
        max_bad_steps: int = 5,
        init_from_ckpt: str | None = None,
    ) -> None:
        super().__init__()
        self.lm_config = as_config(ModelConfig, lm)
        self.optim_config = as_config(OptimConfig, optim)
        if max_bad_steps < 1:
            raise ValueError(f"max_bad_steps={max_bad_steps!r} must be at least 1")
        if init_from_ckpt is not None and not Path(init_from_ckpt).exists():
            raise FileNotFoundError(f"init_from_ckpt={init_from_ckpt!r} does not exist")
        self.max_bad_steps = max_bad_steps
        self.init_from_ckpt = init_from_ckpt
        self.bad_steps = 0
        # Set when the guard stops the run: one line saying why (the CLI exits with it).
        self.stop_reason: str | None = None
        # Guarded batches since the schedule last advanced: it advances only if one was good.
        self._good_since_schedule = 0
        self._bad_since_schedule = 0
        self.tokenizer = build_tokenizer(self.lm_config)
        self.model: torch.nn.Module | None = None
        self._sharded = False

    def hparams_dict(self) -> dict:
        """Hyper-parameters as plain dicts, so checkpoints load with weights_only=True.

        ``_class_path`` lets ``cli.py fit --ckpt_path`` rebuild the right module class in
        LightningCLI's subclass mode."""
        return {
            "_class_path": f"{type(self).__module__}.{type(self).__qualname__}",
            "lm": asdict(self.lm_config),
            "optim": asdict(self.optim_config),
            "max_bad_steps": self.max_bad_steps,
            "init_from_ckpt": self.init_from_ckpt,
        }

    # -- start-up checks ----------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # Lightning has set up the data module by now, and no weight is allocated yet.
        trainer = self._trainer
        facts = self.data_facts()
        if facts is not None:
            check_seq_len(facts, self.lm_config, self.model)
            check_tokenizer(facts, self.tokenizer, self.lm_config)
            if stage == "fit":
                check_data_size(facts, self._data_parallel_size())
        if trainer is not None:
            check_qlora(self.lm_config.lora, trainer.strategy.root_device.type, sharded=self.device_mesh is not None)

    def data_facts(self) -> DataFacts | None:
        """What the trainer's data module states about itself (:mod:`mist_pl.data.contract`);
        None without a trainer or with a data module outside the contract."""
        trainer = self._trainer
        return data_facts(trainer.datamodule) if trainer is not None else None

    # -- data metrics -------------------------------------------------------------------
    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        log_data_metrics(self._trainer)

    def _data_parallel_size(self) -> int:
        return data_parallel_place(self.trainer)[1]

    # -- resume -----------------------------------------------------------------------
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A checkpoint saved at an epoch's end resumes at the next epoch's start, as the
        uninterrupted run continues (see :mod:`mist_pl.checkpoints.loops`). Lightning calls
        this before it restores its loops from the same dict."""
        if normalize_epoch_end(checkpoint):
            log.info("checkpoint saved at the end of an epoch: resuming at the start of the next one")

    # -- model ------------------------------------------------------------------------
    def runtime(self) -> dict:
        """Where and how the model will compute (the trainer's root device type and
        precision string); cpu and no precision outside a trainer. Chooses attention."""
        trainer = self._trainer
        if trainer is None:
            return {"accelerator": "cpu", "precision": None}
        return {"accelerator": trainer.strategy.root_device.type, "precision": str(trainer.precision)}

    def param_dtype(self) -> torch.dtype | None:
        """FSDP2's compute dtype: bf16 under bf16 precision, else the weights' own (None)."""
        return compute_dtype(self.runtime()["precision"])

    def shard_device(self) -> torch.device:
        """The device FSDP2 shards live on: the trainer's root device (cpu without one)."""
        return self._trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")

    def build_lm(self) -> torch.nn.Module:
        """The model, with the weights of ``init_from_ckpt`` when set."""
        weights = None
        if self.init_from_ckpt is not None:
            log.info("initializing weights from %s", self.init_from_ckpt)
            checkpoint = load_checkpoint(self.init_from_ckpt, model_only=True)
            weights = plain_weights(checkpoint, self.init_from_ckpt)
        return build_model(self.lm_config, self.tokenizer, weights=weights,
                           weights_source=f"init_from_ckpt={self.init_from_ckpt!r}", **self.runtime())

    def configure_model(self) -> None:
        """Build the model; under a device mesh (FSDP2), shard it. From a model folder the
        model is created sharded and each rank reads only its shards
        (:func:`~mist_pl.models.factory.build_sharded_model`); otherwise (tiny preset,
        ``init_from_ckpt``, LoRA) every rank builds it whole and shards it."""
        mesh = self.device_mesh
        if self.model is None and mesh is not None and self.init_from_ckpt is None:
            self.model = build_sharded_model(self.lm_config, self.tokenizer, mesh["data_parallel"],
                                             self.shard_device(), self.param_dtype(), **self.runtime())
            self._sharded = self.model is not None
        if self.model is None:
            self.model = self.build_lm()
        if mesh is not None and not self._sharded:
            apply_fsdp2(self.model, mesh["data_parallel"], param_dtype=self.param_dtype())
            self._sharded = True

    # -- optimization -----------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = build_optimizer(self.model, self.optim_config)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, total, self.optim_config)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        # torch's clip_grad_norm_ handles FSDP2's DTensor gradients, which Lightning's
        # default clipping refuses under ModelParallelStrategy; it also gives the norm to log.
        if not gradient_clip_val:
            return
        if gradient_clip_algorithm not in (None, "norm"):
            raise ValueError(f"gradient_clip_algorithm={gradient_clip_algorithm!r}: only 'norm' is supported")
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), gradient_clip_val)
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        self.log("train/grad_norm", norm, on_step=True, on_epoch=False)

    # -- non-finite loss guard ---------------------------------------------------------
    def guard_loss(self, loss: torch.Tensor, batch: dict, batch_idx: int) -> torch.Tensor | None:
        """Return ``loss``, or None (Lightning then skips backward and the step) if any rank's
        loss is NaN/Inf. All ranks decide together so none waits on a collective alone.

        ``train/skipped_steps`` is logged at every guarded step (0 when the loss is finite,
        else how many bad steps in a row): a key logged only at bad steps keeps its last value
        in Lightning's logs, so every later step would look skipped too. The caller logs the
        non-finite loss itself at a skipped step, never the last finite one. A skipped step
        leaves the learning-rate schedule where it was (:meth:`lr_scheduler_step`)."""
        bad = torch.tensor(0.0 if torch.isfinite(loss).all() else 1.0, device=loss.device)
        bad = self.trainer.strategy.reduce(bad, reduce_op="max")
        if bad.item() == 0:
            self.bad_steps = 0
            self._good_since_schedule += 1
            self.log("train/skipped_steps", 0.0)
            return loss
        self.bad_steps += 1
        self._bad_since_schedule += 1
        log.warning(
            "non-finite loss at global step %d (batch %d%s): step skipped (%d/%d in a row)",
            self.global_step, batch_idx, self._batch_origin(batch), self.bad_steps, self.max_bad_steps,
        )
        self.log("train/skipped_steps", float(self.bad_steps))
        if self.bad_steps >= self.max_bad_steps:
            path = Path(self.trainer.default_root_dir) / "nonfinite-stop.ckpt"
            if self.trainer.logger is not None and self.trainer.logger.log_dir:
                path = Path(self.trainer.logger.log_dir) / "checkpoints" / "nonfinite-stop.ckpt"
            self.trainer.save_checkpoint(path)
            log.error("%d consecutive non-finite losses: saved %s and stopping", self.bad_steps, path)
            self.stop_reason = (
                f"stopped by the non-finite guard: {self.bad_steps} consecutive non-finite losses, the last at "
                f"global step {self.global_step}; the weights from before them are in {path}. Lower optim.lr or "
                "look at the batches named in the warnings above, or raise model.max_bad_steps to skip more in a row"
            )
            self.trainer.should_stop = True
        # Lightning would add a generic "training_step returned None" warning to ours.
        warnings.filterwarnings("ignore", message=".*`training_step` returned `None`")
        return None

    def lr_scheduler_step(self, scheduler, metric) -> None:
        """Advance the schedule only when the optimizer step it follows had a finite loss.

        Lightning steps the schedule after every optimizer step, skipped or not: each
        skipped step would take the run one step further down its warmup/decay without
        training, and a run with many skips would end its cosine early. With gradient
        accumulation, the step counts when at least one of its batches was finite (their
        gradients were applied). Modules that never call :meth:`guard_loss` step as usual."""
        skipped = self._bad_since_schedule > 0 and self._good_since_schedule == 0
        self._bad_since_schedule = self._good_since_schedule = 0
        if not skipped:
            super().lr_scheduler_step(scheduler, metric)

    def _batch_origin(self, batch: dict) -> str:
        """Where a batch came from, so a bad sample can be found: stream positions and sources."""
        parts = []
        samples = batch.get("sample_index")
        if isinstance(samples, torch.Tensor):
            parts.append(f"samples {samples.tolist()}")
        sources = batch.get("source_ids")
        if isinstance(sources, torch.Tensor):
            facts = self.data_facts()
            names = facts.source_names if facts is not None else ()
            ids = sources.flatten().tolist()
            parts.append(f"sources {[names[i] for i in ids] if names else ids}")
        return "; " + ", ".join(parts) if parts else ""
