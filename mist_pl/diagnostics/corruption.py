"""Corrupt a SMILES string by deleting some of its structural characters.

The characters that carry SMILES syntax beyond atom symbols are branches ``()``,
bracket atoms ``[]`` and ring-closure digits ``0-9``. Deleting a share of them leaves
text that looks like SMILES but usually is not a valid molecule (unbalanced branches,
unclosed rings), which is what a model with symbolic competence should find unlikely.

Rule: with ``n`` such characters present, delete ``max(1, floor(fraction * n))`` of them
(``fraction`` = 0.2), chosen uniformly without replacement by a random generator seeded
with ``(seed, smiles)``. The same seed and string always give the same corruption, on
any machine and independently of the other items (Python's ``random.Random`` seeds a
``str`` through SHA-512, unaffected by ``PYTHONHASHSEED``). A string without any such
character cannot be corrupted: :func:`corrupt_smiles` returns ``None``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CORRUPTIBLE = frozenset("()[]0123456789")
DEFAULT_FRACTION = 0.2


@dataclass(frozen=True)
class Corruption:
    text: str
    n_corruptible: int
    deleted_positions: tuple[int, ...]

    @property
    def n_deleted(self) -> int:
        return len(self.deleted_positions)


def deletion_count(n_corruptible: int, fraction: float = DEFAULT_FRACTION) -> int:
    """How many characters to delete: ``max(1, floor(fraction * n))``, 0 when n = 0."""
    if n_corruptible <= 0:
        return 0
    # The small epsilon keeps 0.2 * 5 from flooring to 0 through float rounding.
    return max(1, math.floor(fraction * n_corruptible + 1e-9))


def corrupt_smiles(smiles: str, seed: int = 0, fraction: float = DEFAULT_FRACTION) -> Corruption | None:
    """Delete structural characters from ``smiles`` (see the module docstring); None when
    it has none."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r} must be in (0, 1]")
    positions = [i for i, ch in enumerate(smiles) if ch in CORRUPTIBLE]
    k = deletion_count(len(positions), fraction)
    if k == 0:
        return None
    rng = random.Random(f"{seed}\0{smiles}")
    deleted = tuple(sorted(rng.sample(positions, k)))
    drop = set(deleted)
    text = "".join(ch for i, ch in enumerate(smiles) if i not in drop)
    return Corruption(text, len(positions), deleted)
