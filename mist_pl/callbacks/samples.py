"""A table of sampled prompts, completions and rewards in TensorBoard every N steps.

Reads ``pl_module.last_round`` (a list of row dicts the GRPO module fills each round)
and writes it as a markdown table with ``add_text``. Model output is untrusted text:
every cell is escaped so that ``<answer>`` stays visible instead of being eaten as an
HTML tag, and a ``|`` or a newline cannot break the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L

MAX_CELL_CHARS = 2000  # a 2048-token completion is ~8k chars; TensorBoard chokes on huge tables

_ESCAPES = {
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;", "*": "&#42;",
    "_": "&#95;", "[": "&#91;", "]": "&#93;", "#": "&#35;", "\\": "&#92;",
}


def escape_cell(value: Any, limit: int = MAX_CELL_CHARS) -> str:
    """Text safe inside a markdown table cell: HTML/markdown characters as entities,
    newlines as ``<br>``, cut to ``limit`` characters with a marker."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    text = str(value)
    cut = len(text) > limit
    text = text[:limit]
    text = "".join(_ESCAPES.get(ch, ch) for ch in text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
    return text + (" …(cut)" if cut else "")


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(escape_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(escape_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


class SampleTable(L.Callback):
    """Log ``max_rows`` sampled rollouts every ``every_n_steps`` optimizer steps.

    Args:
        every_n_steps: period in optimizer steps (the first round is always logged).
        max_rows: rows of the round's kept samples to show.
        tag: TensorBoard text tag.
    """

    def __init__(self, every_n_steps: int = 50, max_rows: int = 8, tag: str = "samples") -> None:
        if every_n_steps < 1 or max_rows < 1:
            raise ValueError("SampleTable: every_n_steps and max_rows must be >= 1")
        self.every_n_steps, self.max_rows, self.tag = every_n_steps, max_rows, tag
        self._last_logged: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        rows = getattr(pl_module, "last_round", None)
        if not rows or not trainer.is_global_zero:
            return
        step = trainer.global_step
        if self._last_logged is not None and step // self.every_n_steps == self._last_logged // self.every_n_steps:
            return
        self._last_logged = step
        text = markdown_table(rows[: self.max_rows])
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text(self.tag, text, global_step=step)
