"""LightningCLI for every stage: ``python cli.py fit --config conf/tiny/cpt.yaml``.

Model and data are chosen by class path in the YAML (subclass mode), so CPT, SFT and
GRPO share one entry point. Configs are parsed with omegaconf, so ``${...}``
interpolation works, and every key is type-checked: a typo fails naming the key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI

from mist_pl.callbacks.preemption import PreemptionCheckpoint
from mist_pl.callbacks.step_seed import StepSeed
from mist_pl.checkpoints.resume import explained_restore, prepare_resume

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "mist"},
    },
}


class MistCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # Always-on callbacks for exact resume (configurable under these keys): checkpoint
        # at a step boundary on SIGTERM / SLURM's pre-timeout signal; per-step seeding.
        parser.add_lightning_class_args(PreemptionCheckpoint, "preemption")
        parser.add_lightning_class_args(StepSeed, "step_seed")

    def _parse_ckpt_path(self) -> None:
        # LightningCLI would replace the configured model with the checkpoint's stored
        # hyper-parameters, silently ignoring e.g. --model.lm.name_or_path, after a full
        # (not memory-mapped) torch.load of the checkpoint on every rank. Here the config
        # is what runs; before_fit checks that the checkpoint fits it and names differences.
        return

    def before_fit(self) -> None:
        """``--ckpt_path last`` -> the newest complete checkpoint; check it fits the model."""
        config = self.config_init[self.subcommand]
        config["ckpt_path"] = prepare_resume(self.trainer, self.model, config.get("ckpt_path"))

    def fit(self, model, **kwargs) -> None:
        with explained_restore(model, kwargs.get("ckpt_path")):
            self.trainer.fit(model, **kwargs)

    def after_fit(self) -> None:
        """Tell the user where the results of the run are."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        if trainer.logger is not None and trainer.logger.log_dir:
            print(f"TensorBoard logs: {Path(trainer.logger.log_dir).resolve()}"
                  f"  (tensorboard --logdir {Path(trainer.logger.save_dir).resolve()})")
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.last_model_path or getattr(ckpt, "best_model_path", ""):
            print(f"checkpoint: {Path(ckpt.last_model_path or ckpt.best_model_path).resolve()}")


def main(args: list[str] | None = None) -> MistCLI:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return MistCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs={"parser_mode": "omegaconf"},
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=1234,
        save_config_kwargs={"overwrite": True},
        args=args,
    )
