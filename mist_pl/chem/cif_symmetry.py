"""Make a CIF's symmetry operations explicit, so pymatgen parses it in milliseconds.

A CIF that names its space group but lists no operations makes pymatgen build a
``SpaceGroup``, which puts the operations in a set under a constant hash: ~0.7 s the
first time each group is seen in a process. Model-written CIFs name groups at
random, so that cost would recur during RL. :func:`with_explicit_symops` looks the
operations up in the very table pymatgen would use (``SpaceGroup.SYMM_OPS``, with
pymatgen's own symbol resolution) and writes them into the CIF, which pymatgen then
reads on its fast path: the same operations, hence the same structure.

Anything unusual (no symbol, a symbol pymatgen resolves another way, a parse error)
leaves the text unchanged: the result is never a different structure, at worst the
slow path.
"""

from __future__ import annotations

import re
import warnings

SYMOP_TAGS = (
    "_symmetry_equiv_pos_as_xyz",
    "_symmetry_equiv_pos_as_xyz_",
    "_space_group_symop_operation_xyz",
    "_space_group_symop_operation_xyz_",
    "_space_group_symop.operation_xyz",
)
"""Every CIF tag a list of symmetry operations goes under (pymatgen reads each)."""
# In the order pymatgen's CifParser.get_symops tries them.
_SYMBOL_LABELS = (
    "_symmetry_space_group_name_H-M",
    "_symmetry_space_group_name_H_M",
    "_symmetry_space_group_name_H-M_",
    "_symmetry_space_group_name_H_M_",
    "_space_group_name_Hall",
    "_space_group_name_Hall_",
    "_space_group_name_H-M_alt",
    "_space_group_name_H-M_alt_",
    "_symmetry_space_group_name_hall",
    "_symmetry_space_group_name_hall_",
    "_symmetry_space_group_name_h-m",
    "_symmetry_space_group_name_h-m_",
)
_NUMBER_LABELS = ("_space_group_IT_number", "_space_group_IT_number_", "_symmetry_Int_Tables_number", "_symmetry_Int_Tables_number_")


def _table_ops(int_symbol: str) -> list[str] | None:
    """Operations pymatgen's ``SpaceGroup(int_symbol)`` takes from its table, or None
    when it would generate them instead (mirrors ``SpaceGroup.__init__``)."""
    from pymatgen.symmetry.groups import SpaceGroup

    if int_symbol.endswith("H") and not int_symbol.endswith(":H"):
        int_symbol = int_symbol[:-1] + ":H"
    elif int_symbol.endswith("R") and not int_symbol.endswith(":R"):
        int_symbol = int_symbol[:-1] + ":R"
    int_symbol = int_symbol.replace(" ", "")
    if int_symbol in SpaceGroup.abbrev_sg_mapping:
        int_symbol = SpaceGroup.abbrev_sg_mapping[int_symbol]
    elif int_symbol in SpaceGroup.full_sg_mapping:
        int_symbol = SpaceGroup.full_sg_mapping[int_symbol]
    for entry in SpaceGroup.SYMM_OPS:
        if int_symbol in (entry["hermann_mauguin"], entry["universal_h_m"], entry["hermann_mauguin_u"]):
            return list(entry["symops"])
    return None


def _ops_for_block(data: dict) -> list[str] | None:
    from pymatgen.symmetry.groups import SYMM_DATA, SpaceGroup, sg_symbol_from_int_number

    encodings = {re.sub(r"[\s_]", "", key): key for key in SYMM_DATA["space_group_encoding"]}
    for label in _SYMBOL_LABELS:
        value = data.get(label)
        if not isinstance(value, str) or not value:
            continue
        symbol = re.sub(r"[\s_]", "", value)
        if symbol in encodings:
            return _table_ops(encodings[symbol])  # None: pymatgen generates; leave it
        for entry in SpaceGroup.SYMM_OPS:  # pymatgen's fallback: COD symbols
            if symbol == re.sub(r"\s+", "", entry["hermann_mauguin"]):
                return list(entry["symops"])
    for label in _NUMBER_LABELS:
        value = data.get(label)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
            return _table_ops(sg_symbol_from_int_number(int(value.strip())))
    return None


def with_explicit_symops(cif: str) -> str:
    """``cif`` with an explicit operations loop added where pymatgen would otherwise
    build one from the space-group symbol; unchanged when that does not apply."""
    try:
        from pymatgen.io.cif import CifFile

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = CifFile.from_str(cif)
            changed = False
            for block in parsed.data.values():
                if any(block.data.get(label) for label in SYMOP_TAGS):
                    continue
                ops = _ops_for_block(block.data)
                if ops:
                    block.data["_symmetry_equiv_pos_as_xyz"] = ops
                    block.loops.append(["_symmetry_equiv_pos_as_xyz"])
                    changed = True
            return str(parsed) if changed else cif
    except Exception:  # noqa: BLE001 - any surprise: keep the original text
        return cif
