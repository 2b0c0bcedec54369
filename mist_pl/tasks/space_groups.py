"""Space-group look-ups from spglib's tables (fast; pymatgen's SpaceGroup(symbol) takes ~1 s)."""

from __future__ import annotations

import functools

N_SPACE_GROUPS = 230
MAX_OPERATIONS = 192  # the most symmetry operations any space group has (conventional cell)


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, int], dict[str, int]]:
    """(number -> most operations of any setting, normalized symbol -> number)."""
    import spglib

    operations: dict[int, int] = {}
    numbers: dict[str, int] = {}
    for hall_number in range(1, 531):  # every setting of every group
        entry = spglib.get_spacegroup_type(hall_number)
        number = _field(entry, "number")
        n_ops = len(spglib.get_symmetry_from_database(hall_number)["rotations"])
        operations[number] = max(operations.get(number, 0), n_ops)
        for name in ("international_short", "international_full", "international"):
            numbers.setdefault(_normalize(_field(entry, name)), number)
    return operations, numbers


def _field(entry: object, name: str):
    # spglib >= 2.5 returns a dataclass, older versions a dict
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def _normalize(symbol: str) -> str:
    return symbol.replace(" ", "").replace("_", "").casefold()


def number_of_symbol(symbol: str) -> int | None:
    """Hermann-Mauguin symbol -> number ("Fm-3m", "F m -3 m", "P6_3/mmc"); None if unknown."""
    if not isinstance(symbol, str) or len(symbol) > 40:
        return None
    return _tables()[1].get(_normalize(symbol))


def operations_of(number: int) -> int | None:
    """How many symmetry operations space group ``number`` has (most of its settings)."""
    return _tables()[0].get(number)
