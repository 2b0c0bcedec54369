"""Count what a build kept and dropped, and why.

Reasons are short fixed phrases ("invalid SMILES", "duplicate"), so counts add up
across millions of rows; the first origin seen for each reason is kept as an example
to look at. Loader messages that carry details after a colon ("gold SMILES is not
valid: 'C1CC'") are counted under the part before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


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
        """Take a loader's ``(origin, reason)`` skip list (:class:`~mist_pl.tasks.examples.Examples`)."""
        for origin, reason in skipped:
            self.drop(reason, origin)

    def as_dict(self) -> dict:
        return {
            "dropped": dict(sorted(self.dropped.items())),
            "first_origin": dict(sorted(self.first_origin.items())),
        }
