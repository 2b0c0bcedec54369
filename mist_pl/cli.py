"""LightningCLI for every stage: ``python cli.py fit --config conf/tiny/cpt.yaml`` (or
``python -m mist_pl.cli ...`` from any directory: a ``--config`` that is not a file here
but names a shipped config reads the package's copy).

Model and data are chosen by class path in the YAML (subclass mode), so CPT, SFT and
GRPO share one entry point. Configs are parsed with omegaconf, so ``${...}``
interpolation works, and every key is type-checked: a typo fails naming the key, and so
does a NaN or infinite number anywhere in the config.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.callbacks import DeviceStatsMonitor, LearningRateMonitor
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from mist_pl.callbacks.preemption import PreemptionCheckpoint
from mist_pl.callbacks.step_seed import StepSeed
from mist_pl.checkpoints.resolve import checkpoint_dir
from mist_pl.checkpoints.resume import explained_restore, prepare_resume
from mist_pl.checkpoints.validate import TRUST_ENV, check_safe, trusted
from mist_pl.logs import configure_logging
from mist_pl.shipped import shipped_config

log = logging.getLogger(__name__)

# Callbacks that only write to a logger, and refuse to run without one.
LOGGER_ONLY_CALLBACKS = (LearningRateMonitor, DeviceStatsMonitor)

TRAINER_DEFAULTS = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": "runs", "name": "mist"},
    },
}


class RunConfig(SaveConfigCallback):
    """Saves the resolved config as ``config.yaml`` in the run's own folder: the logger's
    version folder, or without a logger the folder of the run's checkpoints.

    Lightning saves it in ``trainer.log_dir``, which without a logger is
    ``default_root_dir``, the working directory: ``--trainer.logger false`` overwrote a
    user's ``./config.yaml``. The run's folder holds only the run's files, so a resumed run
    rewrites its own config there and nothing else. In ``fit`` the file is written once
    training starts: written at ``setup``, it would make ``ModelCheckpoint`` (set up later)
    warn that a fresh run's checkpoint folder is not empty."""

    folder: Path | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # trainer.log_dir broadcasts rank 0's folder: every rank must ask.
        self.folder = Path(trainer.log_dir) if trainer.logger is not None else checkpoint_dir(trainer)
        if stage != "fit":
            self._save(trainer)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        if self.already_saved or self.folder is None:
            return
        if trainer.is_global_zero:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.parser.save(self.config, str(self.folder / self.config_filename), skip_none=False, overwrite=True,
                             multifile=self.multifile)
        self.already_saved = True


class MistCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # Always-on callbacks for exact resume (configurable under these keys): checkpoint
        # at a step boundary on SIGTERM / SLURM's pre-timeout signal; per-step seeding.
        parser.add_lightning_class_args(PreemptionCheckpoint, "preemption")
        parser.add_lightning_class_args(StepSeed, "step_seed")

    def before_instantiate_classes(self) -> None:
        # A NaN or infinite number passes every range check written as a comparison
        # (``nan < 0`` is False) and then poisons training silently: refuse any, in every
        # section of the config, before anything is built.
        config = self.config[self.subcommand] if self.subcommand else self.config
        bad = nonfinite_settings(config)
        if bad:
            raise ValueError(f"{', '.join(bad)}: every number in the config must be finite (not NaN or infinite)")

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        """The trainer, without the callbacks that need a logger when it has none
        (``--trainer.logger false`` on a config that monitors the learning rate): they
        would stop the run in ``on_train_start``; without a logger there is nothing for
        them to write to."""
        trainer = super().instantiate_trainer(**kwargs)
        if not trainer.loggers:
            dropped = [c for c in trainer.callbacks if isinstance(c, LOGGER_ONLY_CALLBACKS)]
            if dropped:
                log.warning("no logger: leaving out %s, which only write to a logger",
                            ", ".join(type(c).__name__ for c in dropped))
                trainer.callbacks = [c for c in trainer.callbacks if c not in dropped]
        return trainer

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
        self._restore_safely(self.trainer.fit, model, kwargs)
        reason = getattr(model, "stop_reason", None)
        if reason:
            # The non-finite guard stopped the run: a failure, which scripts and SLURM must
            # see as one (exit status 1, the reason as one line on stderr).
            raise SystemExit(f"error: {reason}")
        for callback in self.trainer.callbacks:
            if isinstance(callback, PreemptionCheckpoint) and callback.exit_status is not None:
                # Stopped for a requeue that could not be done: SLURM must not see the job
                # as completed (status 0) nor as crashed (a traceback, status 1).
                print(f"error: {callback.stop_message}", file=sys.stderr)
                raise SystemExit(callback.exit_status)

    def validate(self, model, **kwargs) -> None:
        self._restore_safely(self.trainer.validate, model, kwargs)

    def test(self, model, **kwargs) -> None:
        self._restore_safely(self.trainer.test, model, kwargs)

    def predict(self, model, **kwargs) -> None:
        self._restore_safely(self.trainer.predict, model, kwargs)

    def _restore_safely(self, method, model, kwargs: dict) -> None:
        """Run ``method`` so that restoring ``ckpt_path`` runs no code: Lightning's restore
        unpickles with ``weights_only=True`` (its own default defers to torch's, which is
        ``False`` before torch 2.6 or with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), unless the
        user trusts the file by name in ``MIST_PL_TRUSTED_CHECKPOINTS``. The file is checked
        first too: torch.distributed.checkpoint unpickles a sharded folder's index and values
        without limits, and so do some strategies' own loaders. Lightning's
        ``--weights_only false`` is refused: it would trust any file, including one dropped
        into the run's folder and picked by ``--ckpt_path last``."""
        ckpt_path = kwargs.get("ckpt_path")
        if kwargs.get("weights_only") is False:
            raise ValueError("--weights_only false would let any checkpoint run code while it loads; to trust "
                             f"one file, list it instead: {TRUST_ENV}=/path/to/file.ckpt")
        kwargs["weights_only"] = not (ckpt_path and trusted(ckpt_path))
        if ckpt_path and Path(ckpt_path).exists():
            check_safe(ckpt_path)
        with explained_restore(model, ckpt_path):
            method(model, **kwargs)

    def after_fit(self) -> None:
        """Tell the user where the results of the run are."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        if trainer.logger is not None and trainer.logger.log_dir:
            print(f"TensorBoard logs: {Path(trainer.logger.log_dir).resolve()}"
                  f"  (tensorboard --logdir {Path(trainer.logger.save_dir).resolve()})")
        ckpt = trainer.checkpoint_callback
        saved = (ckpt.last_model_path or getattr(ckpt, "best_model_path", "")) if ckpt is not None else ""
        if saved:
            print(f"checkpoint: {Path(saved).resolve()}")


def nonfinite_settings(value: Any, key: str = "") -> list[str]:
    """``key=value`` for every NaN or infinite float in a parsed config (namespaces,
    mappings and lists, walked in order), keys written as in the config file."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{key}={value!r}"]
    if isinstance(value, Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return [bad for name, item in value.items() for bad in nonfinite_settings(item, f"{key}.{name}" if key else str(name))]
    if isinstance(value, (list, tuple)):
        return [bad for i, item in enumerate(value) for bad in nonfinite_settings(item, f"{key}[{i}]")]
    return []


def resolve_config_args(argv: list[str]) -> list[str]:
    """``--config X`` / ``--config=X`` where X is not a file but names a config shipped in
    the package (``conf/tiny/cpt.yaml`` or ``tiny/cpt.yaml``): X becomes that file, so the
    commands of the README work from any directory (:func:`mist_pl.shipped.resolve_config`)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = _config_path(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + _config_path(arg.removeprefix("--config="))
    return out


def _config_path(value: str) -> str:
    if Path(value).expanduser().is_file():
        return value
    found = shipped_config(value)
    return str(found) if found is not None else value  # jsonargparse names a missing file


def main(args: list[str] | None = None) -> MistCLI:
    if not logging.getLogger().handlers:  # an embedding program (the demo) keeps its own setup
        configure_logging(logging.INFO, lightning_level=logging.INFO)
    if args is None:
        sys.argv[1:] = resolve_config_args(sys.argv[1:])
    else:
        args = resolve_config_args(args)
    owns_process = args is None
    cli = MistCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs={"parser_mode": "omegaconf"},
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=1234,
        save_config_callback=RunConfig,
        args=args,
    )
    if owns_process:
        close_process_group()
    return cli


def close_process_group() -> None:
    """Destroy the default process group after a run that finished. Left to interpreter
    exit, gloo's worker threads can still be joinable when their objects are destroyed and
    the process aborts ("terminate called without an active exception", exit 250) after
    the last checkpoint was written, which a SLURM job reports as a failure. Only after
    success: on an error another rank may still be inside a collective, and destroying the
    group then can hang instead of exiting."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
