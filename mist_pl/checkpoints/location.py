"""The folder a run's checkpoints go to, known before ``trainer.fit`` resolves it."""

from __future__ import annotations

from pathlib import Path

import lightning as L


def checkpoint_dir(trainer: L.Trainer) -> Path:
    """Where ``ModelCheckpoint`` writes: its ``dirpath``, else
    ``<logger save_dir>/<name>/<version>/checkpoints`` (Lightning's own rule, repeated here
    because ``dirpath`` is only filled in once ``fit`` has started)."""
    callback = trainer.checkpoint_callback
    if callback is not None and getattr(callback, "dirpath", None):
        return Path(callback.dirpath)
    if trainer.loggers:
        logger = trainer.loggers[0]
        save_dir = logger.save_dir or trainer.default_root_dir
        version = logger.version
        version = version if isinstance(version, str) else f"version_{version}"
        return Path(save_dir) / str(logger.name) / version / "checkpoints"
    return Path(trainer.default_root_dir) / "checkpoints"
