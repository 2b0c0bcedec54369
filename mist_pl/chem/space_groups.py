"""Space-group look-ups from spglib's tables (fast; pymatgen's SpaceGroup(symbol) takes ~1 s)."""

from __future__ import annotations

import functools

N_SPACE_GROUPS = 230
MAX_OPERATIONS = 192  # the most symmetry operations any space group has (conventional cell)


@functools.lru_cache(maxsize=1)
def _numbers() -> dict[str, int]:
    """Normalized symbol -> number, for every setting of every group."""
    import spglib

    numbers: dict[str, int] = {}
    for hall_number in range(1, 531):  # every setting of every group
        entry = spglib.get_spacegroup_type(hall_number)
        number = _field(entry, "number")
        for name in ("international_short", "international_full", "international"):
            numbers.setdefault(_normalize(_field(entry, name)), number)
    return numbers


def _field(entry: object, name: str):
    # spglib >= 2.5 returns a dataclass, older versions a dict
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def _normalize(symbol: str) -> str:
    return symbol.replace(" ", "").replace("_", "").casefold()


def number_of_symbol(symbol: str) -> int | None:
    """Hermann-Mauguin symbol -> number ("Fm-3m", "F m -3 m", "P6_3/mmc"); None if unknown."""
    if not isinstance(symbol, str) or len(symbol) > 40:
        return None
    return _numbers().get(_normalize(symbol))
