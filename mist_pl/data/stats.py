"""Counts of what happened to a source's records: read, kept, dropped (by reason), tokens.

The same object is filled by on-the-fly loading and by ``prepare`` (one per shard, then
summed), and it is what the manifest stores, so a dropped row is always accounted for.
For each drop reason the first example (``file:line: detail``) is kept, which is usually
enough to find the bug or the broken input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceStats:
    records: int = 0  # items the reader produced, malformed ones included
    kept: int = 0  # documents that reached the tokenizer
    tokens: int = 0  # tokens of the kept documents (without the EOS separators)
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, origin: Any, detail: str = "") -> None:
        self.dropped[reason] += 1
        if reason not in self.examples:
            self.examples[reason] = f"{origin}: {detail}" if detail else str(origin)

    def add(self, other: "SourceStats") -> "SourceStats":
        self.records += other.records
        self.kept += other.kept
        self.tokens += other.tokens
        self.dropped.update(other.dropped)
        for reason, example in other.examples.items():
            self.examples.setdefault(reason, example)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "tokens": self.tokens,
            "examples": dict(sorted(self.examples.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SourceStats":
        return cls(
            records=data["records"],
            kept=data["kept"],
            tokens=data["tokens"],
            dropped=Counter(data.get("dropped", {})),
            examples=dict(data.get("examples", {})),
        )

    def summary(self) -> str:
        drops = ", ".join(f"{reason}={n}" for reason, n in sorted(self.dropped.items())) or "none"
        return f"{self.records} records, {self.kept} kept, {self.tokens} tokens, dropped: {drops}"
