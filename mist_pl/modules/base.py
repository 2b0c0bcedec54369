"""What every training stage shares: model construction and sharding, optimizer and
schedule, gradient clipping that also works on sharded parameters, and the guard that
skips non-finite losses instead of letting them poison the weights.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.sharding import apply_fsdp2
from mist_pl.modules.optim import OptimConfig, build_optimizer, build_scheduler

log = logging.getLogger(__name__)


def as_config(cls, value):
    """Accept a config object or the plain dict it was saved as in a checkpoint."""
    if value is None:
        return cls()
    return value if isinstance(value, cls) else cls(**value)


class LMModule(L.LightningModule):
    """Base class of the CPT, SFT and GRPO modules.

    Args:
        lm: which model and tokenizer to start from (see :class:`ModelConfig`).
        optim: optimizer and learning-rate schedule (see :class:`OptimConfig`).
        max_bad_steps: after this many consecutive steps with a NaN/Inf loss the run saves
            a checkpoint and stops; single bad steps are skipped and reported.
    """

    def __init__(
        self,
        lm: ModelConfig = ModelConfig(),
        optim: OptimConfig = OptimConfig(),
        max_bad_steps: int = 5,
    ) -> None:
        super().__init__()
        self.lm_config = as_config(ModelConfig, lm)
        self.optim_config = as_config(OptimConfig, optim)
        if max_bad_steps < 1:
            raise ValueError(f"max_bad_steps={max_bad_steps!r} must be at least 1")
        self.max_bad_steps = max_bad_steps
        self.bad_steps = 0
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
        }

    # -- model ------------------------------------------------------------------------
    def configure_model(self) -> None:
        if self.model is None:
            self.model = build_model(self.lm_config, self.tokenizer)
        if self.device_mesh is not None and not self._sharded:
            precision = str(getattr(self._trainer, "precision", "")) if self._trainer else ""
            param_dtype = torch.bfloat16 if precision.startswith("bf16") else None
            apply_fsdp2(self.model, self.device_mesh["data_parallel"], param_dtype=param_dtype)
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
        loss is NaN/Inf. All ranks decide together so none waits on a collective alone."""
        bad = torch.tensor(0.0 if torch.isfinite(loss).all() else 1.0, device=loss.device)
        bad = self.trainer.strategy.reduce(bad, reduce_op="max")
        if bad.item() == 0:
            self.bad_steps = 0
            return loss
        self.bad_steps += 1
        origin = batch.get("source_ids")
        origin = f", sources {origin.tolist()}" if isinstance(origin, torch.Tensor) else ""
        log.warning(
            "non-finite loss at global step %d (batch %d%s): step skipped (%d/%d in a row)",
            self.global_step, batch_idx, origin, self.bad_steps, self.max_bad_steps,
        )
        self.log("train/skipped_steps", float(self.bad_steps))
        if self.bad_steps >= self.max_bad_steps:
            path = Path(self.trainer.default_root_dir) / "nonfinite-stop.ckpt"
            if self.trainer.logger is not None and self.trainer.logger.log_dir:
                path = Path(self.trainer.logger.log_dir) / "checkpoints" / "nonfinite-stop.ckpt"
            self.trainer.save_checkpoint(path)
            log.error("%d consecutive non-finite losses: saved %s and stopping", self.bad_steps, path)
            self.trainer.should_stop = True
        return None
