"""Does a checkpoint belong to this run's model? Errors that name what differs.

Resuming a checkpoint of another configuration fails deep inside ``load_state_dict`` (or
inside torch.distributed.checkpoint for sharded runs) with a long message. Two checks
make it say what is wrong instead:

* before ``fit``: the module class and the ``lm`` settings stored in the checkpoint's
  hyper-parameters are compared with this run's (a different class is an error; a
  different ``lm`` a warning, since e.g. a moved model folder still fits);
* if restoring fails: parameter names and shapes in the checkpoint are compared with the
  built model's, and the error lists the differing ones with the ``lm`` differences.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.rank_zero import rank_zero_only

from mist_pl.checkpoints.validate import load_metadata, sharded_index

log = logging.getLogger(__name__)

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
