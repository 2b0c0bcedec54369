"""What a diagnostic returns and how it is written: per-item CSV, summary JSON, scalars.

``summary["metrics"]`` holds the numbers worth plotting (possibly nested, e.g. per task
or per statement kind) and ``summary["counts"]`` how many items were read, scored and
skipped for which reason. :meth:`DiagnosticResult.scalars` flattens both into
``diagnostics/<name>/<path>`` keys with finite numeric values only, ready for a
TensorBoard ``SummaryWriter`` or a Lightning logger (:func:`log_scalars`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class DiagnosticResult:
    name: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    def scalars(self, prefix: str = "diagnostics") -> dict[str, float]:
        out: dict[str, float] = {}
        for section in ("metrics", "counts"):
            _flatten(self.summary.get(section, {}), f"{prefix}/{self.name}", out)
        return out

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``<name>_items.csv`` and ``<name>_summary.json`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        items, summary = out_dir / f"{self.name}_items.csv", out_dir / f"{self.name}_summary.json"
        write_rows_csv(items, self.rows)
        summary.write_text(json.dumps(_json_safe(self.summary), indent=2, sort_keys=False) + "\n")
        return items, summary


def _flatten(value: Any, key: str, out: dict[str, float]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(v, f"{key}/{k}", out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        out[key] = float(value)


def _json_safe(value: Any) -> Any:
    """NaN/inf become None: ``json.dumps`` would write the non-standard ``NaN``."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_rows_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV; the header is the union of keys in first-seen order (a header alone
    for an empty data set, so the file always exists)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or ["status"], extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def log_scalars(sink: Any, scalars: Mapping[str, float], step: int = 0) -> None:
    """Send scalars to a TensorBoard ``SummaryWriter`` (``add_scalar``) or a Lightning
    logger (``log_metrics``); ``None`` does nothing."""
    if sink is None or not scalars:
        return
    if hasattr(sink, "log_metrics"):
        sink.log_metrics(dict(scalars), step=step)
    elif hasattr(sink, "add_scalar"):
        for key, value in scalars.items():
            sink.add_scalar(key, value, global_step=step)
        if hasattr(sink, "flush"):
            sink.flush()
    else:
        raise TypeError(f"cannot log scalars to {type(sink).__name__}: needs log_metrics or add_scalar")
