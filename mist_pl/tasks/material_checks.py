"""The chemistry checks behind the material-generation reward, each bounded in cost.

Every function here returns a plain answer (bool, float, str or None) and never
raises: pymatgen, spglib and SMACT can fail in surprising ways on model-made input,
and such a failure means "this check does not pass", which the caller scores.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mist_pl.chem import crystals as chem_crystals
from mist_pl.chem.charge_balance import DEFAULT_OXIDATION_STATES, check_oxidation_states, is_charge_balanced
from mist_pl.chem.cif_symmetry import with_explicit_symops
from mist_pl.chem.crystal_limits import MAX_LATTICE_LENGTH_A

log = logging.getLogger(__name__)

MIN_DISTANCE_A = 0.5  # closer atoms are unphysical
MAX_SITES = 200  # after symmetry expansion; bounds the O(n^2) distance check and spglib
MAX_EXPANDED_POSITIONS = 2_000  # atom rows x listed operations pymatgen may apply (~0.6 s)
MAX_CIF_CHARS = 50_000
# A cell must have room for its atoms: 0.1 A^3/atom is below the 0.5 A packing limit
# (~0.09 A^3), so this only rejects what the distance rule rejects too, but it keeps
# degenerate lattices away from the lattice reduction and neighbour search.
MIN_VOLUME_PER_ATOM_A3 = 0.1


def real_elements(symbols: Iterable[str]) -> bool:
    """Whether every symbol is a chemical element pymatgen knows ("Xx" is not)."""
    from pymatgen.core import Element

    return all(Element.is_valid_symbol(s) for s in symbols)


def reduced_formula(counts: Mapping[str, float]) -> str | None:
    """pymatgen's reduced formula ("Na2Cl2" -> "NaCl"), or None if it cannot be formed."""
    try:
        from pymatgen.core import Composition

        if not counts or not real_elements(counts):
            return None
        with warnings.catch_warnings():  # noble gases have no electronegativity to sort by
            warnings.simplefilter("ignore")
            return Composition(dict(counts)).reduced_formula
    except Exception:  # noqa: BLE001 - see module docstring
        return None


@dataclass(frozen=True)
class ChargeSettings:
    """How charge balance is judged: the oxidation-state set (one of
    :data:`~mist_pl.chem.charge_balance.OXIDATION_STATE_SETS`) and whether mixed-valence
    elements may take several states in one compound. Examples carry them in the columns
    ``oxidation_states`` and ``mixed_valence``; absent (None) means the strict defaults."""

    oxidation_states: str = DEFAULT_OXIDATION_STATES
    mixed_valence: bool = False


def charge_settings(example: Mapping[str, Any]) -> ChargeSettings:
    """The example's :class:`ChargeSettings`; ValueError naming a bad value (a setting of
    the run, checked at start-up, never a property of a completion)."""
    name = example.get("oxidation_states")
    mixed = example.get("mixed_valence")
    if mixed is not None and not isinstance(mixed, bool):
        raise ValueError(f"mixed_valence={mixed!r} must be true or false")
    return ChargeSettings(check_oxidation_states(DEFAULT_OXIDATION_STATES if name is None else name), bool(mixed))


def charge_balanced(counts: Mapping[str, float], settings: ChargeSettings = ChargeSettings()) -> bool:
    """SMACT charge neutrality of a composition (:mod:`mist_pl.chem.charge_balance`)
    under ``settings``. An unknown set name raises (see :func:`charge_settings`)."""
    check_oxidation_states(settings.oxidation_states)
    if not counts or not real_elements(counts):
        return False
    try:
        with warnings.catch_warnings():  # SMACT warns about elements without electronegativity
            warnings.simplefilter("ignore")
            return bool(is_charge_balanced(dict(counts), oxidation_states=settings.oxidation_states,
                                           mixed_valence=settings.mixed_valence))
    except Exception:  # noqa: BLE001
        return False


class KnownCompositions:
    """Reduced formulas of a training set, for the novelty check; build once, share.

    Pass an instance (or any set/frozenset of formulas) as the shared column
    ``known_compositions``; plain sets are normalised once and cached.
    """

    def __init__(self, formulas: Iterable[str]):
        self.formulas = frozenset(f for f in (reduce_formula(x) for x in formulas) if f)

    def __contains__(self, formula: object) -> bool:
        return formula in self.formulas

    def __len__(self) -> int:
        return len(self.formulas)


def reduce_formula(formula: Any) -> str | None:
    """pymatgen's reduced formula of a formula text ("Cl4Na4" -> "NaCl"), None if unreadable."""
    try:
        from pymatgen.core import Composition

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            composition = Composition(str(formula))
        return reduced_formula(composition.get_el_amt_dict())
    except Exception:  # noqa: BLE001 - an unreadable training formula is just not known
        return None


_known_cache: dict[int, tuple[Any, KnownCompositions]] = {}
_known_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _known_from_file(path: str) -> KnownCompositions:
    """The formulas of a file: one per line, or a jsonl of examples with ``answer``."""
    formulas = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("{"):
                try:
                    line = json.loads(line).get("answer") or ""
                except (ValueError, AttributeError, RecursionError):
                    continue
            if isinstance(line, str) and line:
                formulas.append(line)
    return KnownCompositions(formulas)


def as_known(value: Any) -> KnownCompositions | None:
    """``value`` as :class:`KnownCompositions`, cached per object (per path for a file);
    None when it is None or neither formulas nor a readable file of them (then novelty
    is scored only once per round). A file holds one formula per line, or is a jsonl of
    examples whose ``answer`` is a formula (a task split)."""
    if value is None or isinstance(value, KnownCompositions):
        return value
    if isinstance(value, (str, Path)):
        try:
            return _known_from_file(str(value))
        except OSError as error:
            log.warning("known_compositions file %s cannot be read (%s); novelty scored once per round only",
                        value, error)
            return None
    if not isinstance(value, (set, frozenset, list, tuple)):
        log.warning("known_compositions should be a set of formulas, got %s; novelty not scored", type(value).__name__)
        return None
    with _known_lock:
        hit = _known_cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        known = KnownCompositions(x for x in value if isinstance(x, str))
        if len(_known_cache) >= 8:
            _known_cache.clear()
        _known_cache[id(value)] = (value, known)  # holding value keeps its id unique
        return known


def parse_structure(cif: str) -> Any | None:
    """A pymatgen Structure from CIF text, or None (too long, unreadable, too many sites
    or positions to expand, an impossible cell)."""
    if len(cif) > MAX_CIF_CHARS:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = chem_crystals.parse_cif(with_explicit_symops(cif), max_sites=MAX_SITES,
                                                max_positions=MAX_EXPANDED_POSITIONS)
    except Exception:  # noqa: BLE001 - CrystalError, or anything pymatgen lets through
        return None
    if structure is None or not 0 < len(structure) <= MAX_SITES:
        return None
    return structure


def structure_counts(structure: Any) -> dict[str, float] | None:
    try:
        return dict(structure.composition.get_el_amt_dict())
    except Exception:  # noqa: BLE001
        return None


def distances_physical(structure: Any) -> bool:
    """No two atoms (periodic images included) closer than :data:`MIN_DISTANCE_A`."""
    try:
        lattice = structure.lattice
        if any(not math.isfinite(x) or x > MAX_LATTICE_LENGTH_A for x in lattice.abc):
            return False
        if not lattice.volume / len(structure) >= MIN_VOLUME_PER_ATOM_A3:
            return False
        if min(lattice.get_lll_reduced_lattice().abc) < MIN_DISTANCE_A:
            return False  # an atom meets its own periodic image
        if len(structure) < 2:
            return True
        distances = np.asarray(structure.distance_matrix)
        upper = distances[np.triu_indices(len(structure), k=1)]
        return bool(np.all(upper >= MIN_DISTANCE_A))
    except Exception:  # noqa: BLE001
        return False

