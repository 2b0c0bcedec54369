"""Shared plumbing for the tasks' example builders: examples, and what was dropped.

Every example is a plain dict of the fields a prompt and the rewards need, the gold
answer under ``answer``, and ``origin`` = ``"<file>:<line>"`` so a bad example can be
traced back. A malformed row is skipped and recorded, never fatal: a task's loader
(``load_examples(path)``) returns an :class:`Examples` list whose ``skipped`` attribute
says what was dropped and why, and a build counts every drop of every stage in a
:class:`Tally` (by reason, with the first origin of each).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# csv's default field limit is 128 kB; stay well under it so one broken quote cannot
# swallow a whole file into a single field silently.
MAX_FIELD_CHARS = 100_000


class Examples(list):
    """A list of example dicts plus ``skipped``: ``(origin, reason)`` for every dropped row."""

    def __init__(self, items: Sequence[dict] = (), skipped: Sequence[tuple[str, str]] = ()):
        super().__init__(items)
        self.skipped: list[tuple[str, str]] = list(skipped)

    def skip(self, origin: str, reason: str) -> None:
        self.skipped.append((origin, reason))

    def report(self, what: str) -> Examples:
        """Log how many rows were kept and dropped; returns self for chaining."""
        if self.skipped:
            origin, reason = self.skipped[0]
            log.warning("%s: kept %d examples, skipped %d malformed rows (first: %s: %s)", what, len(self), len(self.skipped), origin, reason)
        return self


def origin(path: Path | str, line: int) -> str:
    return f"{path}:{line}"


def read_csv_rows(path: Path | str, required: Sequence[str], examples: Examples) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(origin, row)`` for rows that have every ``required`` column non-empty.

    Rows with missing or extra fields, or over-long fields, are recorded in
    ``examples.skipped``. A file without the required header raises ``ValueError``
    (that is a wrong file, not a bad row).
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle, restkey="__extra__", restval=None)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; header is {reader.fieldnames}")
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                examples.skip(origin(path, reader.line_num), f"unreadable CSV row: {error}")
                continue
            where = origin(path, reader.line_num)
            if "__extra__" in row:
                examples.skip(where, f"{len(row['__extra__'])} field(s) more than the header")
            elif any(row.get(c) is None for c in required):
                examples.skip(where, "fewer fields than the header")
            elif any(not row[c].strip() for c in required):
                examples.skip(where, "empty required field")
            elif any(len(v) > MAX_FIELD_CHARS for v in row.values() if isinstance(v, str)):
                examples.skip(where, f"a field longer than {MAX_FIELD_CHARS} characters")
            else:
                yield where, {k: v.strip() for k, v in row.items() if isinstance(v, str)}


def read_lines(path: Path | str) -> list[tuple[str, str]]:
    """``(origin, stripped line)`` for every line of a text file (blank lines included)."""
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [(origin(path, i), line.strip()) for i, line in enumerate(handle, start=1)]


# -- counting what a build kept and dropped ----------------------------------------------
# Reasons are short fixed phrases ("invalid SMILES", "duplicate"), so counts add up across
# millions of rows; the first origin seen for each reason is kept as an example to look
# at. Loader messages that carry details after a colon ("gold SMILES is not valid:
# 'C1CC'") are counted under the part before it.


def reason_key(reason: str) -> str:
    """The fixed part of a skip message (details after ': ' or a quote removed)."""
    for cut in (": ", " '", ' "'):
        at = reason.find(cut)
        if at > 0:
            reason = reason[:at]
    return reason.strip() or "unspecified"


class Tally:
    """Dropped rows by stage and reason, plus the first origin of each."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self.first_origin: dict[str, str] = {}

    def drop(self, reason: str, origin: str = "", n: int = 1) -> None:
        key = reason_key(reason)
        self.dropped[key] += n
        if origin:
            self.first_origin.setdefault(key, origin)

    def absorb(self, skipped: Iterable[tuple[str, str]]) -> None:
        """Take a loader's ``(origin, reason)`` skip list (:attr:`Examples.skipped`)."""
        for origin, reason in skipped:
            self.drop(reason, origin)

    def as_dict(self) -> dict:
        return {
            "dropped": dict(sorted(self.dropped.items())),
            "first_origin": dict(sorted(self.first_origin.items())),
        }
