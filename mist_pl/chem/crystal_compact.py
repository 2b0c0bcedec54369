"""The compact line format of the MiST crystal tasks (``serialized_cif``)::

    serialized_cif formula Cd 1_int As 2_int
    space_group_symbol I4_122_sg
    lattice_parameters a 8.03811770 b 8.03811770 c 4.72563470 alpha 90.00000000 beta 90.00000000 gamma 90.00000000
    Cd 4_int 0.00000000 0.00000000 0.00000000
    As 8_int 0.06170692 0.25000000 0.62500000

Line 1 is the reduced formula (elements by electronegativity), line 2 the
international space-group symbol, line 3 the conventional standard cell, and
each following line one symmetry orbit (Wyckoff position): element, number of
sites the orbit has in the conventional cell, and one representative in
fractional coordinates. The full cell is rebuilt by applying the space group's
operations to each representative.

:func:`to_compact` writes the conventional standard cell found by spglib;
:func:`from_compact` reads the format (including the fixture files under
``mist-demo/crystalrelax_tiny``) and, by default, checks that multiplicities and
formula agree with what the space group generates.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from pymatgen.symmetry.groups import SpaceGroup

from mist_pl.chem.crystal_limits import (
    DEFAULT_ANGLE_TOLERANCE,
    DEFAULT_SYMPREC,
    MAX_SITES,
    CrystalError,
    check_cell,
    quiet_pymatgen,
)

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_HEADER = re.compile(r"serialized_cif\s+formula\s+(.+)")
_FORMULA_TERM = re.compile(r"([A-Z][a-z]?)\s+(\d+)_int")
_SPACE_GROUP = re.compile(r"space_group_symbol\s+(\S+?)_sg")
_LATTICE = re.compile(
    rf"lattice_parameters\s+a\s+{_NUMBER}\s+b\s+{_NUMBER}\s+c\s+{_NUMBER}"
    rf"\s+alpha\s+{_NUMBER}\s+beta\s+{_NUMBER}\s+gamma\s+{_NUMBER}"
)
_SITE = re.compile(rf"([A-Z][a-z]?)\s+(\d+)_int\s+{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}")
MAX_COMPACT_CHARS = 200_000


def _electronegativity(element: Element) -> float:
    value = element.X
    return value if math.isfinite(value) else math.inf


def _representative(coords: list[np.ndarray], decimals: int) -> np.ndarray:
    """The lexicographically smallest wrapped, rounded member of an orbit (deterministic text)."""
    wrapped = [np.round(np.mod(np.round(np.mod(c, 1.0), decimals), 1.0), decimals) + 0.0 for c in coords]
    return min(wrapped, key=tuple)


def to_compact(
    structure: Structure,
    symprec: float = DEFAULT_SYMPREC,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE,
    decimals: int = 8,
) -> str:
    """The structure in the compact format (see module docstring).

    Needs an ordered structure (no partial occupancies). If the space-group
    form cannot be rebuilt exactly by :func:`from_compact` (rare setting
    mismatches), the conventional cell is written site by site as P1, which is
    always faithful.
    """
    with quiet_pymatgen():
        return _to_compact(structure, symprec, angle_tolerance, decimals)


def _to_compact(structure: Structure, symprec: float, angle_tolerance: float, decimals: int) -> str:
    if not isinstance(structure, Structure) or len(structure) == 0:
        raise CrystalError("to_compact needs a non-empty pymatgen Structure")
    if not structure.is_ordered:
        raise CrystalError("the compact format cannot express partial occupancies")
    check_cell(structure)
    plain = structure.copy()
    plain.remove_oxidation_states()
    try:
        analyzer = SpacegroupAnalyzer(plain, symprec=symprec, angle_tolerance=angle_tolerance)
        # spglib's standardized cell in the ITA standard setting, with idealized
        # positions; pymatgen's get_conventional_standard_structure would reorder
        # axes (a < b < c) and so change the setting the symbol refers to.
        cell = analyzer.get_refined_structure()
        symbol = analyzer.get_space_group_symbol()
        symmetrized = SpacegroupAnalyzer(cell, symprec=symprec, angle_tolerance=angle_tolerance).get_symmetrized_structure()
        orbits = [(group[0].specie.symbol, len(group), _representative([s.frac_coords for s in group], decimals))
                  for group in symmetrized.equivalent_sites]
    except Exception:
        cell, symbol, orbits = plain, "P1", None
    if orbits is not None:
        text = _write(cell, symbol, orbits, decimals)
        if _rebuilds_exactly(text, cell):
            return text
    orbits = [(site.specie.symbol, 1, _representative([site.frac_coords], decimals)) for site in cell]
    return _write(cell, "P1", orbits, decimals)


def _write(cell: Structure, symbol: str, orbits: list, decimals: int) -> str:
    reduced = cell.composition.reduced_composition
    elements = sorted(reduced.elements, key=lambda el: (_electronegativity(el), el.symbol))
    formula = " ".join(f"{el.symbol} {round(reduced[el])}_int" for el in elements)
    a, b, c, alpha, beta, gamma = cell.lattice.parameters
    number = f"{{:.{decimals}f}}".format
    lattice = " ".join(f"{name} {number(value)}" for name, value in
                       zip(("a", "b", "c", "alpha", "beta", "gamma"), (a, b, c, alpha, beta, gamma)))
    order = {el.symbol: (_electronegativity(el), el.symbol) for el in elements}
    lines = [f"serialized_cif formula {formula}", f"space_group_symbol {symbol}_sg", f"lattice_parameters {lattice}"]
    for element, multiplicity, coords in sorted(orbits, key=lambda o: (order[o[0]], tuple(o[2]))):
        lines.append(f"{element} {multiplicity}_int " + " ".join(number(x) for x in coords))
    return "\n".join(lines)


def _rebuilds_exactly(text: str, cell: Structure, tol: float = 1e-3) -> bool:
    """True if :func:`from_compact` gives back the same sites (same setting, same positions)."""
    try:
        rebuilt = from_compact(text)
    except CrystalError:
        return False
    if len(rebuilt) != len(cell) or rebuilt.composition != cell.composition:
        return False
    for element in cell.composition.elements:
        ours = np.array([s.frac_coords for s in cell if s.specie == element])
        theirs = np.array([s.frac_coords for s in rebuilt if s.specie == element])
        delta = ours[:, None, :] - theirs[None, :, :]
        delta -= np.round(delta)  # periodic difference in fractional coordinates
        if np.any(np.abs(delta).max(axis=2).min(axis=1) > tol):
            return False
    return True


def from_compact(text: object, tol: float = 1e-4, strict: bool = True) -> Structure:
    """Rebuild the full conventional cell from the compact format.

    ``tol`` is the fractional tolerance for merging symmetry images (it absorbs
    coordinates rounded to 4+ decimals). With ``strict`` the stated
    multiplicities and formula must match what the space group generates.
    Raises :class:`CrystalError` with the reason on any problem.
    """
    with quiet_pymatgen():
        return _from_compact(text, tol, strict)


def _from_compact(text: object, tol: float, strict: bool) -> Structure:
    if not isinstance(text, str):
        raise CrystalError(f"compact crystal must be a string, got {type(text).__name__}")
    if len(text) > MAX_COMPACT_CHARS:
        raise CrystalError(f"compact crystal longer than {MAX_COMPACT_CHARS} characters")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 4:
        raise CrystalError("expected formula, space group, lattice and at least one site line")
    formula = _parse_formula(lines[0])
    space_group = _parse_space_group(lines[1])
    lattice = _parse_lattice(lines[2])
    if len(lines) - 3 > MAX_SITES:
        raise CrystalError(f"more than {MAX_SITES} site lines")
    if not space_group.is_compatible(lattice, tol=1e-3):
        raise CrystalError(f"lattice {lattice.parameters} does not fit space group {space_group.symbol}")
    species: list[str] = []
    coords: list[np.ndarray] = []
    for line in lines[3:]:
        element, multiplicity, point = _parse_site(line)
        orbit = symmetry_orbit(space_group, point, tol)
        if strict and len(orbit) != multiplicity:
            raise CrystalError(
                f"{element} at {tuple(point)}: {space_group.symbol} generates {len(orbit)} sites, text says {multiplicity}"
            )
        species.extend([element] * len(orbit))
        coords.extend(orbit)
        if len(species) > MAX_SITES:
            raise CrystalError(f"structure would have more than {MAX_SITES} sites")
    structure = Structure(lattice, species, coords)
    if strict and structure.composition.reduced_composition != formula.reduced_composition:
        raise CrystalError(
            f"sites give {structure.composition.reduced_formula}, formula line says {formula.reduced_formula}"
        )
    return structure


def symmetry_orbit(space_group: SpaceGroup, point: np.ndarray, tol: float = 1e-4) -> list[np.ndarray]:
    """Distinct images of ``point`` under the group, compared periodically.

    pymatgen's ``SpaceGroup.get_orbit`` compares wrapped coordinates directly,
    so 0.99999999 and 0.0 (a rounded 1/3 + 2/3) count as two sites; here two
    images are the same when they differ by a lattice vector within ``tol``.
    """
    orbit: list[np.ndarray] = []
    for operation in space_group.symmetry_ops:
        image = np.mod(operation.operate(point), 1.0)
        if orbit:
            delta = np.asarray(orbit) - image
            delta -= np.round(delta)
            if np.any(np.all(np.abs(delta) < tol, axis=1)):
                continue
        orbit.append(image)
    return orbit


def try_from_compact(text: object, tol: float = 1e-4, strict: bool = True) -> Structure | None:
    """:func:`from_compact` that answers None instead of raising."""
    try:
        return from_compact(text, tol=tol, strict=strict)
    except CrystalError:
        return None


def _parse_formula(line: str) -> Composition:
    match = _HEADER.fullmatch(line)
    if match is None:
        raise CrystalError(f"first line must be 'serialized_cif formula El n_int ...', got {line[:80]!r}")
    terms = _FORMULA_TERM.findall(match.group(1))
    if not terms or " ".join(f"{el} {n}_int" for el, n in terms) != " ".join(match.group(1).split()):
        raise CrystalError(f"unreadable formula {match.group(1)[:80]!r}")
    amounts: dict[str, int] = {}
    for element, count in terms:
        _check_element(element)
        amounts[element] = amounts.get(element, 0) + int(count)
    if any(count == 0 for count in amounts.values()):
        raise CrystalError("formula has a zero count")
    return Composition(amounts)


def _parse_space_group(line: str) -> SpaceGroup:
    match = _SPACE_GROUP.fullmatch(line)
    if match is None:
        raise CrystalError(f"second line must be 'space_group_symbol <symbol>_sg', got {line[:80]!r}")
    group = _space_group(match.group(1)[:32])
    if group is None:
        raise CrystalError(f"unknown space group {match.group(1)!r}")
    return group


@lru_cache(maxsize=512)
def _space_group(symbol: str) -> SpaceGroup | None:
    """Cached: building a SpaceGroup generates its operations (0.4 s for Fm-3m)."""
    try:
        return SpaceGroup(symbol)
    except Exception:
        return None


def _parse_lattice(line: str) -> Lattice:
    match = _LATTICE.fullmatch(line)
    if match is None:
        raise CrystalError(f"third line must be 'lattice_parameters a .. b .. c .. alpha .. beta .. gamma ..', got {line[:80]!r}")
    a, b, c, alpha, beta, gamma = (float(x) for x in match.groups())
    if not all(0 < x < 1000 for x in (a, b, c)) or not all(0 < x < 180 for x in (alpha, beta, gamma)):
        raise CrystalError(f"lattice parameters out of range: {(a, b, c, alpha, beta, gamma)}")
    lattice = Lattice.from_parameters(a, b, c, alpha, beta, gamma)
    if not (math.isfinite(lattice.volume) and lattice.volume > 1e-3):
        raise CrystalError(f"lattice angles {(alpha, beta, gamma)} give no volume")
    return lattice


def _parse_site(line: str) -> tuple[str, int, np.ndarray]:
    match = _SITE.fullmatch(line)
    if match is None:
        raise CrystalError(f"site line must be 'El n_int x y z', got {line[:80]!r}")
    element, multiplicity, x, y, z = match.groups()
    _check_element(element)
    point = np.array([float(x), float(y), float(z)])
    if not np.all(np.isfinite(point)) or np.any(np.abs(point) > 1e3):
        raise CrystalError(f"bad coordinates in {line[:80]!r}")
    return element, int(multiplicity), point


def _check_element(symbol: str) -> None:
    if not Element.is_valid_symbol(symbol):
        raise CrystalError(f"{symbol!r} is not an element")
