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


def automatic_version_root(trainer: L.Trainer) -> Path | None:
    """``<save_dir>/<name>``, the folder of all versions of this run, when the logger will
    pick a fresh version by itself (none configured) and the checkpoints follow it (no
    ``ModelCheckpoint.dirpath``); else None.

    Such a run writes to a new ``version_N+1`` folder, so its own checkpoint folder is
    always empty at start: ``--ckpt_path last`` has to look at the earlier versions. Call
    this before anything reads ``logger.version``, which fixes the automatic choice."""
    callback = trainer.checkpoint_callback
    if callback is not None and getattr(callback, "dirpath", None):
        return None
    if not trainer.loggers:
        return None
    logger = trainer.loggers[0]
    # TensorBoardLogger and CSVLogger keep the configured version in ``_version`` (None: pick
    # the next free one); other loggers name their own folders, which are left alone.
    if not hasattr(logger, "_version") or logger._version is not None:
        return None
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)

