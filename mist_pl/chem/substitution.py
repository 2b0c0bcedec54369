"""Element substitution in crystal structures, kept only when SMACT calls it charge balanced.

Substituting an element by a chemical neighbour (same periodic-table group and a
shared common oxidation state, e.g. Na -> K, O -> S, Fe -> Ru) is the classic way
to grow a set of plausible hypothetical crystals from a few known ones; SMACT's
charge-balance test filters out the implausible results.
"""

from __future__ import annotations

import random
from functools import lru_cache

from pymatgen.core import Element, Structure

from mist_pl.chem.charge_balance import DEFAULT_OXIDATION_STATES, is_charge_balanced
from mist_pl.chem.crystal_limits import quiet_pymatgen
from mist_pl.chem.crystals import substitute_elements

__all__ = ["charge_balanced_substitutions", "similar_elements", "substitute_elements"]

_MAX_Z = 83  # up to Bi: leave out radioactive heavy elements


@lru_cache(maxsize=None)
def similar_elements(symbol: str) -> tuple[str, ...]:
    """Elements in the same group sharing a common oxidation state, lightest first."""
    with quiet_pymatgen():
        try:
            element = Element(symbol)
        except Exception:
            return ()
        states = set(element.common_oxidation_states)
        if not states:
            return ()
        similar = []
        for z in range(1, _MAX_Z + 1):
            other = Element.from_Z(z)
            if other == element or other.group != element.group or other.is_noble_gas:
                continue
            if states & set(other.common_oxidation_states):
                similar.append(other.symbol)
        return tuple(similar)


def charge_balanced_substitutions(
    structure: Structure, n: int = 2, seed: int = 0, max_attempts: int = 20,
    oxidation_states: str = DEFAULT_OXIDATION_STATES, mixed_valence: bool = False,
) -> list[tuple[dict[str, str], Structure]]:
    """Up to ``n`` distinct single-element substitutions that SMACT accepts (with the
    ``oxidation_states`` set and ``mixed_valence`` of :func:`is_charge_balanced`).

    Deterministic for a seed. Each result is ``(mapping, new_structure)``.
    Elemental crystals get none: SMACT accepts any single element, so the check
    would say nothing.
    """
    if len(structure.composition.elements) < 2:
        return []
    rng = random.Random(f"{seed}|{structure.composition.reduced_formula}")
    present = sorted(el.symbol for el in structure.composition.elements)
    results: list[tuple[dict[str, str], Structure]] = []
    tried: set[tuple[str, str]] = set()
    for _ in range(max_attempts):
        if len(results) >= n:
            break
        old = rng.choice(present)
        options = [el for el in similar_elements(old) if el not in present]
        if not options:
            continue
        new = rng.choice(options)
        if (old, new) in tried:
            continue
        tried.add((old, new))
        candidate = substitute_elements(structure, {old: new})
        if is_charge_balanced(candidate.composition, oxidation_states=oxidation_states, mixed_valence=mixed_valence):
            results.append(({old: new}, candidate))
    return results
