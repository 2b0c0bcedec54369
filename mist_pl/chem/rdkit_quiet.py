"""Keep RDKit's C++ log output off the terminal.

RDKit reports every SMILES it cannot parse on stderr. Over a corpus of millions
of records, or over model completions during RL, that is gigabytes of noise and a
real slowdown. Everything in ``mist_pl.chem`` that calls RDKit on untrusted
strings goes through :func:`quiet_rdkit`, which blocks all log levels for the
duration of the call (``rdBase.BlockLogs``, about 1 microsecond) and, when asked,
hands back the error messages instead of printing them.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from rdkit import rdBase

# CaptureErrorLog arrived in RDKit 2025; without it messages are simply not kept.
_CAN_CAPTURE = hasattr(rdBase, "CaptureErrorLog")


@dataclass
class RDKitMessages:
    """The error messages RDKit logged inside a :func:`quiet_rdkit` block."""

    lines: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lines)


def _clean(raw: str) -> list[str]:
    """Split RDKit's log text into lines without its ``[hh:mm:ss]`` timestamps."""
    lines = []
    for line in raw.splitlines():
        line = line.strip()
        if line.startswith("[") and "] " in line[:12]:
            line = line.split("] ", 1)[1]
        if line:
            lines.append(line)
    return lines


@contextmanager
def quiet_rdkit(capture: bool = False) -> Iterator[RDKitMessages]:
    """Silence RDKit inside the block; with ``capture=True`` collect its errors.

    Warnings and info messages are dropped either way; only the error log is
    captured because that is where parse and sanitization failures go.
    """
    messages = RDKitMessages()
    blocker = rdBase.BlockLogs()  # noqa: F841 - RAII object: logs are blocked while it lives
    try:
        if capture and _CAN_CAPTURE:
            with rdBase.CaptureErrorLog() as captured:
                yield messages
            messages.lines.extend(_clean(captured.messages or ""))
        else:
            yield messages
    finally:
        del blocker


def silence_rdkit_globally() -> None:
    """Turn RDKit logging off for the whole process (worker initializers, scripts)."""
    rdBase.DisableLog("rdApp.*")
