"""Size limits, symmetry tolerances, the cell guard and the error type shared by the crystal modules."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np

MAX_CIF_CHARS = 1_000_000
"""Longest CIF text accepted (characters)."""

MAX_SITES = 1000
"""Most sites a structure may have once symmetry is expanded. pymatgen's CIF
parser checks site pairs (quadratic): 1000 sites parse in ~0.3 s, 12000 in ~30 s."""

MAX_EXPANDED_POSITIONS = 4 * MAX_SITES
"""Most atom positions pymatgen may generate while parsing one CIF: atom rows times
*listed* symmetry operations, repeats included (it applies every line, then merges).
The work, not the size: one operation listed 3000 times makes few sites but took 8 s
for 15 rows and minutes for 300. 4000 positions parse in ~1-2 s on one core."""


MAX_LATTICE_LENGTH_A = 1_000.0
"""Longest cell edge accepted (Å): far above any real conventional cell, and it keeps the
coordinates spglib and the neighbour search see within a sane floating-point range."""

MAX_FRACTIONAL_COORDINATE = 1_000.0
"""Largest |fractional coordinate| accepted before wrapping into the cell."""

MIN_CELL_VOLUME_A3 = 1e-3
"""Smaller cells are degenerate (flat or collinear lattice vectors)."""


DEFAULT_SYMPREC = 0.1
"""Distance tolerance (Å) for symmetry finding: loose enough for relaxed or
model-written coordinates, the value Materials Project uses for its labels."""

DEFAULT_ANGLE_TOLERANCE = 5.0
"""Angle tolerance (degrees) for symmetry finding."""


class CrystalError(ValueError):
    """A crystal text or structure that cannot be used; the message says why."""


class CifTooLarge(CrystalError):
    """A CIF refused unparsed because it would expand to too many sites or positions."""


@contextmanager
def quiet_pymatgen() -> Iterator[None]:
    """Drop pymatgen/spglib warnings (missing electronegativities, rounding notes) inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def cell_problem(matrix: object, frac_coords: object) -> str | None:
    """Why a lattice and its sites must not reach native code (spglib, pymatgen's neighbour
    search), or None when they are safe.

    spglib dereferences out of bounds and kills the process (SIGSEGV) on a NaN or infinite
    lattice entry and on a zero angle; nothing can catch that, so every structure built from
    untrusted text passes here first. Refused: non-finite lattice entries, an edge that is
    not in (0, :data:`MAX_LATTICE_LENGTH_A`], an angle outside (0, 180) degrees, a volume
    below :data:`MIN_CELL_VOLUME_A3`, non-finite or huge fractional coordinates.
    """
    try:
        lattice = np.asarray(matrix, dtype=float).reshape(3, 3)
        coords = np.asarray(frac_coords, dtype=float).reshape(-1, 3)
    except (TypeError, ValueError) as error:
        return f"unreadable lattice or coordinates ({error})"
    if not np.all(np.isfinite(lattice)):
        return "lattice has non-finite entries"
    lengths = np.linalg.norm(lattice, axis=1)
    if not np.all((lengths > 0) & (lengths <= MAX_LATTICE_LENGTH_A)):
        return f"lattice edge lengths {np.round(lengths, 4).tolist()} outside (0, {MAX_LATTICE_LENGTH_A:g}] Å"
    for i, j, name in ((1, 2, "alpha"), (0, 2, "beta"), (0, 1, "gamma")):
        cosine = float(lattice[i] @ lattice[j] / (lengths[i] * lengths[j]))
        angle = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
        if not 0.0 < angle < 180.0:
            return f"lattice angle {name} = {angle:g} degrees, outside (0, 180)"
    volume = abs(float(np.linalg.det(lattice)))
    if not volume >= MIN_CELL_VOLUME_A3:
        return f"degenerate lattice (volume {volume:.3g} Å^3)"
    if not np.all(np.isfinite(coords)):
        return "non-finite fractional coordinates"
    if coords.size and float(np.abs(coords).max()) > MAX_FRACTIONAL_COORDINATE:
        return f"fractional coordinates beyond ±{MAX_FRACTIONAL_COORDINATE:g}"
    return None


def check_cell(structure: object) -> None:
    """Raise :class:`CrystalError` when :func:`cell_problem` finds a reason; a Structure
    (or anything with ``lattice.matrix`` and ``frac_coords``) passes silently when safe."""
    try:
        matrix, coords = structure.lattice.matrix, structure.frac_coords  # type: ignore[attr-defined]
    except Exception as error:  # not a structure, or pymatgen failed to compute the cell
        raise CrystalError(f"not a usable structure ({type(error).__name__})") from None
    problem = cell_problem(matrix, coords)
    if problem is not None:
        raise CrystalError(problem)
