"""Size limits, symmetry tolerances and the error type shared by the crystal modules."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator

MAX_CIF_CHARS = 1_000_000
"""Longest CIF text accepted (characters)."""

MAX_SITES = 1000
"""Most sites a structure may have once symmetry is expanded. pymatgen's CIF
parser checks site pairs (quadratic): 1000 sites parse in ~0.3 s, 12000 in ~30 s."""


DEFAULT_SYMPREC = 0.1
"""Distance tolerance (Å) for symmetry finding: loose enough for relaxed or
model-written coordinates, the value Materials Project uses for its labels."""

DEFAULT_ANGLE_TOLERANCE = 5.0
"""Angle tolerance (degrees) for symmetry finding."""


class CrystalError(ValueError):
    """A crystal text or structure that cannot be used; the message says why."""


@contextmanager
def quiet_pymatgen() -> Iterator[None]:
    """Drop pymatgen/spglib warnings (missing electronegativities, rounding notes) inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
