"""The two resume checks the CLI runs around ``trainer.fit`` (see :mod:`mist_pl.cli`), and
the errors that name what differs when a checkpoint does not belong to this run's model.

Resuming a checkpoint of another configuration fails deep inside ``load_state_dict`` (or
inside torch.distributed.checkpoint for sharded runs) with a long message. Two checks
make it say what is wrong instead:

* before ``fit`` (:func:`prepare_resume`): the module class and the ``lm`` settings
  stored in the checkpoint's hyper-parameters are compared with this run's (a different
  class is an error; a different ``lm`` a warning, since e.g. a moved model folder still
  fits);
* if restoring fails (:func:`explained_restore`): parameter names and shapes in the
  checkpoint are compared with the built model's, and the error lists the differing ones
  with the ``lm`` differences.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from lightning.fabric.utilities.rank_zero import rank_zero_only

from mist_pl.checkpoints.resolve import automatic_version_root, checkpoint_dir, resolve_ckpt_path
from mist_pl.checkpoints.validate import load_metadata, sharded_index, unsafe

log = logging.getLogger(__name__)


# -- does a checkpoint fit this run's model --------------------------------------------

MAX_LISTED = 6  # differing parameters named in a message


class CheckpointMismatchError(RuntimeError):
    """The checkpoint was written by another model or configuration."""


def saved_hparams(path: str | Path) -> dict[str, Any]:
    return dict(load_metadata(path).get("hyper_parameters") or {})


def saved_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape in a checkpoint, without reading tensor data."""
    path = Path(path)
    if path.is_dir():
        metadata = sharded_index(path)
        prefix = "state_dict."
        return {key[len(prefix):]: tuple(item.size) for key, item in metadata.state_dict_metadata.items()
                if key.startswith(prefix) and hasattr(item, "size")}
    state = load_metadata(path).get("state_dict") or {}
    return {key: tuple(value.shape) for key, value in state.items() if hasattr(value, "shape")}


def model_shapes(module) -> dict[str, tuple[int, ...]]:
    """Parameter name -> global shape (a DTensor's ``shape`` is the unsharded one)."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items() if hasattr(value, "shape")}


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            out.update(_flatten(f"{prefix}.{key}", item))
        return out
    return {prefix: value}


def lm_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``lm.<field>`` settings that differ, as readable lines."""
    old, new = _flatten("lm", saved.get("lm") or {}), _flatten("lm", current.get("lm") or {})
    return [f"{key}: checkpoint {old.get(key)!r}, this run {new.get(key)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def shape_differences(saved: Mapping[str, tuple], current: Mapping[str, tuple]) -> list[str]:
    """Readable differences: parameters only on one side first (counts), then shapes."""
    lines = []
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    if missing:
        lines.append(f"{len(missing)} parameter(s) of the model not in the checkpoint, e.g. {missing[:3]}")
    if unexpected:
        lines.append(f"{len(unexpected)} parameter(s) in the checkpoint not in the model, e.g. {unexpected[:3]}")
    lines += [f"{key}: checkpoint {list(saved[key])}, model {list(current[key])}"
              for key in sorted(set(saved) & set(current)) if tuple(saved[key]) != tuple(current[key])]
    return lines


def check_before_resume(path: str | Path, current_hparams: Mapping[str, Any]) -> list[str]:
    """Compare the stored hyper-parameters with this run's before anything is built.

    Raises :class:`CheckpointMismatchError` for a checkpoint of another module class;
    returns (and logs) the ``lm`` differences otherwise."""
    saved = saved_hparams(path)
    old_class, new_class = saved.get("_class_path"), current_hparams.get("_class_path")
    if old_class and new_class and old_class != new_class:
        raise CheckpointMismatchError(
            f"{path} was written by {old_class}; this run trains {new_class}. To start a new stage from it, "
            "use model.init_args.init_from_ckpt (weights only) instead of --ckpt_path (a resume)"
        )
    differences = lm_differences(saved, current_hparams)
    if differences and rank_zero_only.rank == 0:
        log.warning("resuming %s with other model settings (%s)", path, "; ".join(differences))
    return differences


def explain_restore_failure(path: str | Path, module, current_hparams: Mapping[str, Any]) -> CheckpointMismatchError | None:
    """After restoring failed: an error naming the differing parameter shapes, or None if
    the shapes agree (the failure has another cause)."""
    try:
        differences = shape_differences(saved_shapes(path), model_shapes(module))
    except Exception as error:  # explaining must never hide the original failure
        log.debug("could not compare %s with the model: %s", path, error)
        return None
    if not differences:
        return None
    lines = differences[:MAX_LISTED]
    if len(differences) > MAX_LISTED:
        lines.append(f"... and {len(differences) - MAX_LISTED} more")
    settings = lm_differences(saved_hparams(path), current_hparams)
    cause = f" The model settings differ: {'; '.join(settings)}." if settings else ""
    return CheckpointMismatchError(
        f"{path} does not fit this model ({len(differences)} difference(s)):\n  "
        + "\n  ".join(lines) + f"\n{cause} Resume with the configuration the checkpoint was trained with."
    )


# -- the checks around fit -------------------------------------------------------------

RUN_CONFIG = "config.yaml"  # the resolved config the CLI saves in each version's folder (mist_pl.cli.RunConfig)


def prepare_resume(trainer: L.Trainer, module: L.LightningModule, ckpt_path: str | None) -> str | None:
    """Resolve ``last`` to the newest complete checkpoint, check a named one, and compare
    the checkpoint's module class and model settings with this run's.

    ``last`` looks in the run's checkpoint folder; when the logger picks its version by
    itself (a new ``version_N`` every start), in the checkpoint folders of every version
    of the run (``<save_dir>/<name>/*/checkpoints``), since this start's own is new. A
    configured version (``job_<id>`` in the SLURM scripts) stays separate: a new job
    starts fresh instead of continuing another one. Searching every version, it says which
    one it picked and with which seed (:func:`say_version`)."""
    folder: Path | list[Path] = Path(".")
    root = None
    if ckpt_path == "last":
        root = automatic_version_root(trainer)  # before checkpoint_dir fixes the version
        folder = checkpoint_dir(trainer)
        if root is not None:
            folder = sorted({folder, *(p / "checkpoints" for p in root.glob("*") if p.is_dir())})
    path = resolve_ckpt_path(ckpt_path, folder)
    if root is not None and path is not None and rank_zero_only.rank == 0:
        say_version(Path(path), root)
    if path is not None and Path(path).exists():
        check_before_resume(path, dict(module.hparams))
    return path


def say_version(path: Path, root: Path) -> None:
    """Name the version of the run that ``last`` picked among all of ``root`` and the seed it
    was trained with; warn when that is not this run's seed: every start of a run with
    automatic versions shares ``root``, so ``last`` may continue another seed's run."""
    if root not in path.parents:
        return
    version = root / path.relative_to(root).parts[0]
    saved = saved_seed(version)
    said = f"--ckpt_path last searched every version of {root} and picked {version.name}"
    if saved is None:
        log.info("%s (its seed is unknown: no readable %s)", said, version / RUN_CONFIG)
        return
    said += f", trained with seed_everything={saved}"
    current = os.environ.get("PL_GLOBAL_SEED")  # set by seed_everything, which the CLI runs first
    if current is None or current == str(saved):
        log.info(said)
    else:
        log.warning("%s; this run's seed is %s: it continues that run with seed %s. To start a run of seed %s "
                    "instead, leave out --ckpt_path", said, current, current, current)


def saved_seed(version: Path) -> int | None:
    """The ``seed_everything`` a version of the run was started with, from its saved config;
    None if unknown. Only a message depends on it, so an unreadable config is no error."""
    try:
        config = yaml.safe_load((version / RUN_CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config.get("seed_everything") if isinstance(config, dict) else None


@contextlib.contextmanager
def explained_restore(module: L.LightningModule, ckpt_path: str | None):
    """Re-raise a failure of a resumed run as :class:`CheckpointMismatchError` naming the
    differing parameter shapes, when that is what went wrong; a checkpoint that Lightning's
    ``weights_only`` restore refused, as :class:`UnsafeCheckpointError` naming the opt-in."""
    try:
        yield
    except CheckpointMismatchError:
        raise
    except pickle.UnpicklingError as error:
        if not ckpt_path:
            raise
        raise unsafe(ckpt_path, error) from None
    except Exception as error:
        if ckpt_path and Path(ckpt_path).exists() and any(True for _ in module.parameters()):
            explained = explain_restore_failure(ckpt_path, module, dict(module.hparams))
            if explained is not None:
                raise explained from error
        raise
