"""Estimate, before pymatgen sees it, how expensive a CIF would be to parse.

pymatgen expands every atom-site row by every symmetry operation, so a short CIF can
ask for tens of thousands of sites: 300 general positions in I m -3 m (96 operations)
take over a minute to parse. The reward only accepts cells up to
:data:`~mist_pl.tasks.material_checks.MAX_SITES` sites anyway, so a CIF whose
rows x operations bound exceeds :data:`MAX_EXPANDED_POSITIONS` is refused unparsed.

The scan is line based and linear: it finds the loop holding ``_atom_site_fract_*``
columns (its rows are counted) and the loop of symmetry operations (rows counted);
without explicit operations the declared space group's operation count is used, and
192 (the most any group has) when the group is unknown.
"""

from __future__ import annotations

from mist_pl.tasks.space_groups import MAX_OPERATIONS, number_of_symbol, operations_of

MAX_EXPANDED_POSITIONS = 2_000

_SYMOP_TAGS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz", "_space_group_symop.operation_xyz")
_SYMBOL_TAGS = ("_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt", "_space_group.name_h-m_alt")
_NUMBER_TAGS = ("_symmetry_int_tables_number", "_space_group_it_number", "_space_group.it_number")


def _declared_operations(key: str, value: str) -> int | None:
    value = value.strip().strip("'\"").strip()
    if key in _NUMBER_TAGS and value.isdigit() and len(value) <= 3:
        return operations_of(int(value))
    if key in _SYMBOL_TAGS:
        number = number_of_symbol(value)
        return operations_of(number) if number is not None else None
    return None


def expanded_positions_bound(cif: str) -> int:
    """An upper bound on the positions pymatgen would generate (atom rows x operations).

    Rows are counted from values, not lines (CIF lets one line hold many rows): an
    atom loop's rows are ceil(values / columns). An operation "x, y, z" always has
    two commas, so operations are counted by commas, whatever the line layout.
    """
    atom_rows = explicit_ops = 0
    declared_ops: int | None = None
    in_loop = reading_header = False
    headers: list[str] = []
    loop_values = 0

    def close_loop() -> int:
        is_atom_loop = any(h.startswith("_atom_site_fract_") for h in headers)
        return -(-loop_values // len(headers)) if is_atom_loop and headers else 0

    for raw in cif.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lowered = line.casefold()
        starts_block = lowered.startswith(("loop_", "_", "data_"))
        if starts_block and in_loop and not reading_header:
            atom_rows += close_loop()
            in_loop = False
        if lowered.startswith("loop_"):
            in_loop, reading_header, headers, loop_values = True, True, [], 0
        elif lowered.startswith("_"):
            if in_loop and reading_header:
                headers.append(lowered.split()[0])
                continue
            in_loop = False
            key, _, value = line.partition(" ")
            found = _declared_operations(key.casefold(), value)
            if found is not None:
                declared_ops = found
        elif lowered.startswith("data_"):
            in_loop = False
        elif in_loop:
            reading_header = False
            if any(h in _SYMOP_TAGS for h in headers):
                explicit_ops += max(1, line.count(",") // 2)
            else:
                loop_values += len(line.split())
    if in_loop and not reading_header:
        atom_rows += close_loop()
    operations = explicit_ops or declared_ops or MAX_OPERATIONS
    return atom_rows * operations


def affordable(cif: str) -> bool:
    """Whether parsing ``cif`` stays within the expansion budget."""
    return expanded_positions_bound(cif) <= MAX_EXPANDED_POSITIONS
