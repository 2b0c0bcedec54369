"""Crystal structures (pymatgen): CIF in and out, validation, normalization.

Reading untrusted text: :func:`parse_cif` refuses texts over
:data:`MAX_CIF_CHARS` and CIFs that would expand to more than :data:`MAX_SITES`
sites *before* pymatgen builds the structure (its parser is quadratic in the
number of sites), refuses cells that would crash spglib (non-finite or degenerate
lattices, non-finite coordinates: :func:`~mist_pl.chem.crystal_limits.cell_problem`),
captures pymatgen's warnings instead of printing them, and turns every failure into a
:class:`CrystalError` with the reason. :func:`space_group`, :func:`normalize` and
:func:`validate` apply the same cell guard to any structure they are given, so no
structure reaches spglib unchecked.

The compact line format of the MiST crystal tasks lives in
:mod:`mist_pl.chem.crystal_compact` and pymatgen's bundled structures in
:mod:`mist_pl.chem.crystal_library`; both are re-exported here.
"""

from __future__ import annotations

import math
import re
import warnings
from fractions import Fraction
from typing import Mapping

import numpy as np
from pymatgen.core import Composition, Element, Lattice, Structure
from pymatgen.io.cif import CifFile, CifParser, CifWriter
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from mist_pl.chem.cif_symmetry import SYMOP_TAGS
from mist_pl.chem.crystal_limits import (
    DEFAULT_ANGLE_TOLERANCE,
    DEFAULT_SYMPREC,
    MAX_CIF_CHARS,
    MAX_EXPANDED_POSITIONS,
    MAX_SITES,
    CifTooLarge,
    CrystalError,
    cell_problem,
    check_cell,
    quiet_pymatgen,
)
from mist_pl.chem.space_groups import MAX_OPERATIONS
from mist_pl.chem.tags import wrap_cif


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_MAX_SYMOP_CHARS = 100  # longer "operations" are counted by their text, never parsed
_SYMOP_TERM = re.compile(r"([+-]?)(\d+(?:\.\d*)?(?:/\d+(?:\.\d*)?)?)?\*?([xyz])?")


def _parse_symop_part(part: str) -> tuple[Fraction, Fraction, Fraction, Fraction] | None:
    """One coordinate of an operation (``-x+1/2``) as (x, y, z coefficients, translation
    mod 1), or None if it is not of that form."""
    coefficients = {"x": Fraction(0), "y": Fraction(0), "z": Fraction(0)}
    translation = Fraction(0)
    position = 0
    while position < len(part):
        match = _SYMOP_TERM.match(part, position)
        if match is None or match.end() == position or not (match.group(2) or match.group(3)):
            return None
        sign = -1 if match.group(1) == "-" else 1
        number = Fraction(match.group(2)).limit_denominator(1000) if match.group(2) else None
        if match.group(3):
            coefficients[match.group(3)] += sign * (number if number is not None else 1)
        else:
            translation += sign * number
        position = match.end()
    return coefficients["x"], coefficients["y"], coefficients["z"], translation % 1


def distinct_symmetry_operations(operations: list) -> int:
    """How many different operations a CIF's list holds: the same operation written twice,
    or with other spacing, case, term order or an equivalent translation (``x,y,1/2+z`` and
    ``X, Y, Z+0.5``), counts once. pymatgen applies each listed line, but repeated lines
    give no new sites. A line that does not parse counts by its text without spaces."""
    seen: set = set()
    for operation in operations:
        text = re.sub(r"\s+", "", str(operation)).strip("'\"").lower()
        parts = text.split(",")
        parsed: list = [None]
        if len(parts) == 3 and len(text) <= _MAX_SYMOP_CHARS:  # untrusted text: no huge numbers
            try:
                parsed = [_parse_symop_part(p) for p in parts]
            except (ValueError, ZeroDivisionError):  # "1/0", "1/2/3"
                parsed = [None]
        seen.add(tuple(parsed) if all(p is not None for p in parsed) else text)
    return len(seen)


def expansion_estimate(raw: CifFile) -> tuple[int, int]:
    """``(sites, positions)`` pymatgen would make of a raw CIF, before it parses it.

    ``positions`` bounds the work: atom rows times the *listed* operations, repeats
    included, since pymatgen applies every line before merging duplicates. ``sites``
    bounds the size: the declared multiplicities when every row has one, else atom rows
    times the *distinct* operations (a file may list an operation twice: COD 7008984 lists
    four twice and is 616 sites, not 1232). A block listing no operations is counted with
    :data:`~mist_pl.chem.space_groups.MAX_OPERATIONS`, the most any group has."""
    sites = positions = 0
    for block in raw.data.values():
        data = block.data
        rows = len(_as_list(data.get("_atom_site_fract_x") or data.get("_atom_site_Cartn_x")))
        listed = next((_as_list(data[key]) for key in SYMOP_TAGS if key in data), [])
        distinct = distinct_symmetry_operations(listed)
        positions += rows * (len(listed) or MAX_OPERATIONS)
        multiplicities = _as_list(data.get("_atom_site_symmetry_multiplicity"))
        if len(multiplicities) == rows and all(str(m).isdigit() for m in multiplicities):
            sites += sum(int(m) for m in multiplicities)
        else:
            sites += rows * (distinct or MAX_OPERATIONS)
    return sites, positions


_CELL_LENGTHS = ("_cell_length_a", "_cell_length_b", "_cell_length_c")
_CELL_ANGLES = ("_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")


def _cif_number(value: object) -> float:
    """A CIF number, its standard uncertainty dropped ("5.640(3)" -> 5.64); NaN if unreadable."""
    text = str(value).strip().split("(", 1)[0]
    try:
        return float(text) if len(text) <= 40 else math.nan
    except ValueError:
        return math.nan


def _stated_cell_problem(raw: CifFile) -> str | None:
    """Why the cell a CIF states is impossible (a length <= 0, an angle outside (0, 180),
    anything non-finite), or None. Checked on the text because pymatgen turns a negative
    length or angle into a valid-looking mirrored cell (-1 degree reads as 1)."""
    for block in raw.data.values():
        for key in _CELL_LENGTHS + _CELL_ANGLES:
            if key not in block.data:
                continue
            number = _cif_number(block.data[key])
            upper = 180.0 if key in _CELL_ANGLES else math.inf
            if not (math.isfinite(number) and 0.0 < number < upper):
                return f"{key} {str(block.data[key])[:40]!r} is not a number in (0, {upper:g})"
    return None


def parse_cif(text: object, max_sites: int = MAX_SITES, warnings_out: list[str] | None = None,
              max_positions: int = MAX_EXPANDED_POSITIONS) -> Structure:
    """The first structure in a CIF text.

    Raises :class:`CrystalError` with the reason (no data block, unreadable, an impossible
    cell, no structure), :class:`CifTooLarge` for a text that would expand to more than
    ``max_sites`` sites or cost more than ``max_positions`` atom positions
    (:func:`expansion_estimate`), refused before pymatgen parses it. pymatgen's warnings
    are appended to ``warnings_out`` when given, never printed.
    """
    if not isinstance(text, str):
        raise CrystalError(f"CIF must be a string, got {type(text).__name__}")
    if len(text) > MAX_CIF_CHARS:
        raise CrystalError(f"CIF longer than MAX_CIF_CHARS={MAX_CIF_CHARS} characters ({len(text)})")
    if "data_" not in text:
        raise CrystalError("no 'data_' block: not a CIF")
    with quiet_pymatgen():  # the same warnings come again from the full parse below
        try:
            raw = CifFile.from_str(text)
        except Exception as error:
            raise CrystalError(f"unreadable CIF: {error}") from error
    stated = _stated_cell_problem(raw)
    if stated is not None:
        raise CrystalError(stated)
    sites, positions = expansion_estimate(raw)
    if sites == 0:  # answer junk before pymatgen parses the text a second time
        raise CrystalError("no _atom_site coordinates in any data block")
    if sites > max_sites:
        raise CifTooLarge(f"CIF would expand to ~{sites} sites (limit {max_sites})")
    if positions > max_positions:
        raise CifTooLarge(f"CIF would take {positions} atom positions to expand (atom rows x listed "
                          f"operations; budget {max_positions})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structures = CifParser.from_str(text).parse_structures(primitive=False, on_error="warn")
            failure = ""
        except Exception as error:
            structures, failure = [], f"{type(error).__name__}: {error}"
    messages = list(dict.fromkeys(str(item.message) for item in caught))[:20]  # distinct, bounded
    if warnings_out is not None:
        warnings_out.extend(messages)
    if not structures:
        reasons = "; ".join(filter(None, [failure, *messages])) or "no reason given"
        raise CrystalError(f"no structure in CIF: {reasons[:2000]}")
    structure = structures[0]
    if len(structure) > max_sites:
        raise CifTooLarge(f"structure has {len(structure)} sites (limit {max_sites})")
    check_cell(structure)
    return structure


def try_parse_cif(text: object) -> Structure | None:
    """:func:`parse_cif` that answers None instead of raising."""
    try:
        return parse_cif(text)
    except CrystalError:
        return None


def validate(structure: object, min_distance: float = 0.5) -> list[str]:
    """Problems that make a structure physically unusable (empty list if none).

    Checks: a cell spglib can take (:func:`~mist_pl.chem.crystal_limits.cell_problem`:
    finite lattice, edges and angles in range, positive volume, finite coordinates), occupancies
    in (0, 1] (per species and per site), and no two atoms (periodic images
    included) closer than ``min_distance`` Å.
    """
    if not isinstance(structure, Structure):
        return [f"not a pymatgen Structure ({type(structure).__name__})"]
    unsafe = cell_problem(structure.lattice.matrix, structure.frac_coords)
    if unsafe is not None:
        return [unsafe]
    if len(structure) == 0:
        return ["no sites"]
    if len(structure) > MAX_SITES:
        return [f"{len(structure)} sites (limit {MAX_SITES})"]
    problems = []
    for index, site in enumerate(structure):
        for species, occupancy in site.species.items():
            if not 0 < occupancy <= 1 + 1e-6:
                problems.append(f"site {index} ({species}): occupancy {occupancy:g} outside (0, 1]")
        total = site.species.num_atoms
        if total > 1 + 1e-6:
            problems.append(f"site {index}: total occupancy {total:g} > 1")
    with quiet_pymatgen():
        try:
            problems.extend(_overlaps(structure, min_distance))
        except Exception as error:  # neighbour search on a pathological cell
            problems.append(f"neighbour search failed: {type(error).__name__}: {error}")
    return problems


def _overlaps(structure: Structure, min_distance: float, shown: int = 5) -> list[str]:
    if min_distance <= 0:
        return []
    centers, neighbors, images, distances = structure.get_neighbor_list(min_distance)
    pairs = {}
    for i, j, image, distance in zip(centers, neighbors, images, distances):
        key = (min(i, j), max(i, j))
        if i == j and not np.any(image):
            continue
        pairs[key] = min(distance, pairs.get(key, math.inf))
    problems = [
        f"sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string}) "
        f"are {distance:.3f} Å apart (< {min_distance} Å)"
        for (i, j), distance in sorted(pairs.items())[:shown]
    ]
    if len(pairs) > shown:
        problems.append(f"... {len(pairs) - shown} more overlapping pairs")
    return problems


def cif_problems(text: object, min_distance: float = 0.5) -> list[str]:
    """Parse + validate in one call, as a list of problems (for rewards and data reports)."""
    try:
        structure = parse_cif(text)
    except CrystalError as error:
        return [str(error)]
    return validate(structure, min_distance)


def _electronegativity(species) -> float:
    try:
        value = float(species.average_electroneg)
    except Exception:
        return math.inf
    return value if math.isfinite(value) else math.inf


def _wrap_round(coords: np.ndarray, decimals: int) -> np.ndarray:
    # wrap, round, wrap again (0.99999 rounds to 1.0), and turn -0.0 into 0.0
    return np.round(np.mod(np.round(np.mod(coords, 1.0), decimals), 1.0), decimals) + 0.0


def canonical_sites(structure: Structure, decimals: int = 4) -> Structure:
    """Same cell with a rounded lattice, wrapped/rounded coordinates and sorted sites.

    Sites are sorted by electronegativity, species, then coordinates, so equal
    inputs give identical text whatever order the sites came in.
    """
    a, b, c, alpha, beta, gamma = (round(float(x), decimals) for x in structure.lattice.parameters)
    lattice = Lattice.from_parameters(a, b, c, alpha, beta, gamma)
    coords = _wrap_round(structure.frac_coords, decimals)
    order = sorted(
        range(len(structure)),
        key=lambda i: (_electronegativity(structure[i].species), structure[i].species_string, tuple(coords[i])),
    )
    return Structure(lattice, [structure[i].species for i in order], coords[order])


def normalize(
    structure: Structure,
    symprec: float = DEFAULT_SYMPREC,
    angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE,
    decimals: int = 4,
    primitive: bool = False,
) -> Structure:
    """Standard cell (spglib via SpacegroupAnalyzer), then :func:`canonical_sites`.

    The conventional cell in the ITA standard setting with symmetrized positions
    by default, pymatgen's primitive standard cell with ``primitive=True``. If
    symmetry finding fails (e.g. overlapping atoms) the input cell is kept and
    only sorted, wrapped and rounded.

    The result is deterministic for a given input, but two descriptions of the
    same crystal may still differ by an origin shift or axis flip that the
    space group allows (its Euclidean normalizer); compare structures with
    pymatgen's StructureMatcher, not by text. Raises :class:`CrystalError` for a cell
    that must not reach spglib (:func:`~mist_pl.chem.crystal_limits.check_cell`).
    """
    check_cell(structure)
    with quiet_pymatgen():
        try:
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
            # refined = spglib's conventional cell in the ITA standard setting (the one
            # the space-group symbol refers to) with symmetrized positions
            cell = analyzer.get_primitive_standard_structure() if primitive else analyzer.get_refined_structure()
        except Exception:
            cell = structure
        return canonical_sites(cell, decimals)


def to_cif(structure: Structure, symprec: float | None = None, significant_figures: int = 6) -> str:
    """Compact CIF text: pymatgen's CifWriter without its comment line.

    ``symprec`` (e.g. 0.1) writes the symmetrized form (asymmetric unit plus
    symmetry operations); None writes every site in P1. Falls back to P1 when
    symmetrization fails; raises :class:`CrystalError` if even that fails.
    """
    with quiet_pymatgen():
        try:
            text = str(CifWriter(structure, symprec=symprec, significant_figures=significant_figures))
        except Exception as first_error:
            try:
                text = str(CifWriter(structure, significant_figures=significant_figures))
            except Exception as error:
                raise CrystalError(f"cannot write CIF: {error or first_error}") from error
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(lines) + "\n"


def tag_cif(text: str) -> str:
    """CIF text wrapped in ``[START_CIF]..[END_CIF]``."""
    return wrap_cif(text)


def space_group(
    structure: Structure, symprec: float = DEFAULT_SYMPREC, angle_tolerance: float = DEFAULT_ANGLE_TOLERANCE
) -> tuple[str, int]:
    """International symbol and number, e.g. ``("Fm-3m", 225)``.

    ``("P1", 1)`` when spglib finds no symmetry or fails: every crystal has at
    least P1, so the answer stays true. Raises :class:`CrystalError` for a cell that
    must not reach spglib (:func:`~mist_pl.chem.crystal_limits.check_cell`).
    """
    check_cell(structure)
    with quiet_pymatgen():
        try:
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
            return analyzer.get_space_group_symbol(), int(analyzer.get_space_group_number())
        except Exception:
            return "P1", 1


def as_composition(value: object) -> Composition | None:
    """A Composition from a Structure, Composition, formula, {element: amount} or element list.

    None for anything unreadable or containing non-elements (pymatgen would
    read "Xx2" as a dummy species).
    """
    composition = _composition(value)
    if composition is None:
        return None
    with quiet_pymatgen():
        if not all(isinstance(el, Element) for el in composition.element_composition.elements):
            return None
    return composition


def _composition(value: object) -> Composition | None:
    try:
        if isinstance(value, Structure):
            return value.composition
        if isinstance(value, Composition):
            return value
        if isinstance(value, str):
            if not value.strip() or len(value) > 200:
                return None
            return Composition(value.strip())
        if isinstance(value, Mapping):
            return Composition({str(k): float(v) for k, v in value.items()})
        if isinstance(value, (list, tuple, set, frozenset)):
            return Composition({str(el): 1 for el in value})
    except Exception:
        return None
    return None


def composition_elements(value: object) -> list[str] | None:
    """Sorted element symbols of a structure / composition / formula, None if unreadable."""
    composition = as_composition(value)
    if composition is None or len(composition) == 0:
        return None
    try:
        return sorted({element.symbol for element in composition.element_composition})
    except Exception:
        return None


def substitute_elements(structure: Structure, mapping: Mapping[str, str]) -> Structure:
    """A copy with elements replaced (``{"Na": "K"}``); oxidation states are dropped.

    Raises :class:`CrystalError` for symbols that are not elements or are absent.
    """
    present = {element.symbol for element in structure.composition.elements}
    replacements = {}
    for old, new in mapping.items():
        if not (Element.is_valid_symbol(str(old)) and Element.is_valid_symbol(str(new))):
            raise CrystalError(f"not an element symbol in substitution {old!r} -> {new!r}")
        if old not in present:
            raise CrystalError(f"{old} is not in {structure.composition.reduced_formula}")
        replacements[Element(old)] = Element(new)
    result = structure.copy()
    result.remove_oxidation_states()
    result.replace_species(replacements)
    return result


from mist_pl.chem.crystal_compact import from_compact, to_compact  # noqa: E402
from mist_pl.chem.crystal_library import shipped_structures  # noqa: E402

__all__ = [
    "DEFAULT_ANGLE_TOLERANCE",
    "DEFAULT_SYMPREC",
    "MAX_CIF_CHARS",
    "MAX_EXPANDED_POSITIONS",
    "MAX_SITES",
    "CifTooLarge",
    "CrystalError",
    "as_composition",
    "canonical_sites",
    "cif_problems",
    "composition_elements",
    "expansion_estimate",
    "from_compact",
    "normalize",
    "parse_cif",
    "shipped_structures",
    "space_group",
    "substitute_elements",
    "tag_cif",
    "to_cif",
    "to_compact",
    "try_parse_cif",
    "validate",
]
