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

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "mist"},
    },
}


class MistCLI(LightningCLI):
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
