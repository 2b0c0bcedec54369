"""A checkpoint written at the end of an epoch resumes at the start of the next epoch.

``ModelCheckpoint`` saves "at the end of an epoch" from ``on_train_epoch_end``, when
Lightning's fit loop has counted the epoch as *processed* but not yet as *completed*.
Resumed with ``max_steps`` (iteration-based training, what every config here uses),
Lightning reads that state as "restarted on the epoch's end" and gets the next epoch
wrong: it runs under the old epoch's number, without ``on_train_epoch_start``, and its
batch loop believes that epoch's batches were already done, so the epoch boundaries move
(CPT and SFT: validation and epoch-end hooks at other steps than in the uninterrupted
run) and the sampler is told an epoch one ahead of the label (GRPO: another prompt order).

:func:`normalize_epoch_end` rewrites that state into the one the uninterrupted run is in
a moment later, after the epoch-end hooks and before the next epoch begins: the epoch
counted as completed, and the per-epoch counters of the batch loop, its optimizer and
scheduler steps and validation batches back at zero, exactly as Lightning's own reset at
an epoch start leaves them. Totals (global step, batches that stepped) are not touched.
A checkpoint saved anywhere else is left as it is.
"""

from __future__ import annotations

from typing import Any

FIT_LOOP = "fit_loop"
EPOCH_PROGRESS = "epoch_progress"
BATCH_PROGRESS = "epoch_loop.batch_progress"
# Progress trackers whose "current" (per-epoch) counters an epoch start sets to zero.
PER_EPOCH_TRACKERS = (
    BATCH_PROGRESS,
    "epoch_loop.scheduler_progress",
    "epoch_loop.automatic_optimization.optim_progress",
    "epoch_loop.manual_optimization.optim_step_progress",
)
VAL_BATCH_PROGRESS = "epoch_loop.val_loop.batch_progress"  # an epoch start zeroes its totals too


def saved_at_epoch_end(fit_loop: dict[str, Any]) -> bool:
    """Whether ``fit_loop`` (a checkpoint's ``loops.fit_loop``) was saved between the end of
    an epoch's last batch and the epoch's completion, i.e. from ``on_train_epoch_end``."""
    epoch = (fit_loop.get(EPOCH_PROGRESS) or {}).get("total")
    batches = fit_loop.get(BATCH_PROGRESS) or {}
    if not epoch or not batches:
        return False
    done = batches.get("total", {})
    return (
        epoch["ready"] == epoch["started"] == epoch["processed"] == epoch["completed"] + 1
        and bool(batches.get("is_last_batch"))
        and done.get("completed") == done.get("processed")
    )


def _zero_current(tracker: Any) -> None:
    if isinstance(tracker, dict):
        for key, value in tracker.items():
            if key == "current" and isinstance(value, dict):
                tracker[key] = {name: 0 for name in value}
            else:
                _zero_current(value)


def normalize_epoch_end(checkpoint: dict[str, Any]) -> bool:
    """Turn an epoch-end checkpoint's loop state into the next epoch's start (in place);
    returns whether it did. See the module docstring for why."""
    fit_loop = (checkpoint.get("loops") or {}).get(FIT_LOOP)
    if not isinstance(fit_loop, dict) or not saved_at_epoch_end(fit_loop):
        return False
    for counts in (fit_loop[EPOCH_PROGRESS]["total"], fit_loop[EPOCH_PROGRESS]["current"]):
        counts["completed"] = counts["processed"]
    for key in PER_EPOCH_TRACKERS:
        _zero_current(fit_loop.get(key))
    fit_loop[BATCH_PROGRESS]["is_last_batch"] = False
    val = fit_loop.get(VAL_BATCH_PROGRESS)
    if isinstance(val, dict):
        for part in ("total", "current"):
            if isinstance(val.get(part), dict):
                val[part] = {name: 0 for name in val[part]}
        val["is_last_batch"] = False
    return True
