"""Data prep bounds the work of parsing one CIF, as the reward does: pymatgen applies every
listed symmetry operation to every atom row, repeats included, so 3000 operations took
seconds per record (minutes with a few hundred rows) while the site estimate, which counts
distinct operations and trusts declared multiplicities, let them through. A CIF whose
atom rows x listed operations exceed the parse budget of ``parse_cif`` is now dropped
unparsed, counted as ``cif_too_large``."""

from __future__ import annotations

import pytest

from mist_pl.chem import crystals
from mist_pl.chem.crystal_limits import MAX_EXPANDED_POSITIONS
from mist_pl.data.transforms import DropRecord, build_transform

CELL = "data_x\n" + "".join(f"_cell_length_{a} 9.0\n" for a in "abc") + "".join(
    f"_cell_angle_{a} 90\n" for a in ("alpha", "beta", "gamma"))


def cif(operations: list[str], atoms: int, multiplicity: int | None = None) -> str:
    ops = "".join(f"'{op}'\n" for op in operations)
    columns = "_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    if multiplicity is not None:
        columns += "_atom_site_symmetry_multiplicity\n"
    rows = "".join(f"Na{i} Na {(0.037 * i) % 1:.4f} {(0.31 * i) % 1:.4f} {(0.17 * i) % 1:.4f}"
                   + (f" {multiplicity}" if multiplicity is not None else "") + "\n" for i in range(atoms))
    return f"{CELL}loop_\n_symmetry_equiv_pos_as_xyz\n{ops}loop_\n{columns}{rows}"


def transform(text: str) -> str:
    return build_transform({"kind": "crystal", "column": "cif"}, "test")({"cif": text}, 0)


@pytest.mark.parametrize("text, work", [
    (cif(["x,y,z"] * 3000, atoms=15), 15 * 3000),  # one operation, listed 3000 times
    (cif([f"x+{k}/5000,y,z" for k in range(5000)], atoms=1, multiplicity=1), 5000),  # a declared multiplicity of 1
])
def test_a_cif_over_the_parse_budget_is_dropped_unparsed(text, work, monkeypatch):
    def parse(*args, **kwargs):  # the parse took 4-10 s: it must not start at all
        raise AssertionError("pymatgen's CIF parser was called")

    monkeypatch.setattr(crystals.CifParser, "from_str", parse)
    with pytest.raises(DropRecord) as drop:
        transform(text)
    assert drop.value.reason == "cif_too_large"
    assert f"{work} atom positions" in drop.value.detail and f"budget {MAX_EXPANDED_POSITIONS}" in drop.value.detail


def test_a_cif_within_the_budget_is_still_parsed():
    cubic = ["x,y,z", "-x,-y,z", "-x,y,-z", "x,-y,-z", "z,x,y", "z,-x,-y", "-z,-x,y", "-z,x,-y"]
    document = transform(cif(cubic * 2, atoms=3))  # 3 rows x 16 listed operations
    assert document.startswith("[START_CIF]") and "Na" in document
