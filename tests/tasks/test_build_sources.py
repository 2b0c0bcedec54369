"""Raw sources other than reactions: ORD protobuf compounds, OPSIN-confirmed names,
shipped molecules and materials."""

import gzip

import pytest
from build_testkit import NAME_PAIRS, compound, field, ord_dataset, varint, write_raw_dir

from mist_pl.chem.opsin import opsin_available
from mist_pl.tasks.examples import Tally, reason_key
from mist_pl.tasks.sources.materials import material_request
from mist_pl.tasks.sources.ord_compounds import WireError, fields, read_dataset, read_datasets
from mist_pl.tasks.sources.shipped_molecules import shipped_smiles


def test_wire_reader_reads_varints_strings_and_refuses_truncation():
    message = field(1, 300) + field(3, "ethanol") + varint(4 << 3 | 5) + b"\x00\x00\x80\x3f"
    parsed = list(fields(message))
    assert parsed[0] == (1, 300) and bytes(parsed[1][1]) == b"ethanol" and len(parsed[2][1]) == 4
    with pytest.raises(WireError):
        list(fields(field(3, "ethanol")[:-2]))
    with pytest.raises(WireError):
        list(fields(varint(1 << 3 | 3)))  # group wire types are not supported


def test_ord_dataset_gives_name_smiles_pairs_of_inputs_and_products(tmp_path):
    path = tmp_path / "d.pb.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(ord_dataset(NAME_PAIRS[:2]))
    pairs = [(c.name, c.smiles) for c in read_dataset(path, Tally())]
    # each pair appears as an input (NAME) and as a product (IUPAC_NAME); SMILES-only compounds give nothing
    assert pairs == [NAME_PAIRS[0], NAME_PAIRS[0], NAME_PAIRS[1], NAME_PAIRS[1]]
    broken = tmp_path / "broken.pb.gz"
    with gzip.open(broken, "wb") as handle:
        handle.write(field(3, field(2, compound([(6, "x")])))[:-3])
    tally = Tally()
    assert list(read_dataset(broken, tally)) == [] and tally.dropped["malformed ORD dataset"] == 1
    assert len(list(read_datasets(write_raw_dir(tmp_path / "raw") / "orderly" / "datasets", tally))) == 2 * len(NAME_PAIRS)


@pytest.mark.skipif(opsin_available() is not None, reason=f"OPSIN unavailable: {opsin_available()}")
def test_only_names_opsin_confirms_are_kept():
    from mist_pl.tasks.sources.name_pairs import confirmed_pairs

    tally = Tally()
    kept = confirmed_pairs([(name, smiles, f"row{i}") for i, (name, smiles) in enumerate(NAME_PAIRS + NAME_PAIRS[:1])], tally)
    assert [(e["name"], e["answer"]) for e in kept] == [("ethanol", "CCO"), ("2-methylpropan-1-ol", "CC(C)CO")]
    assert tally.dropped == {
        "OPSIN cannot parse the name": 1,
        "OPSIN structure differs from the record": 1,
        "duplicate name/structure pair": 1,
    }


def test_shipped_molecules_and_materials():
    tally = Tally()
    first = [s for s, _ in shipped_smiles(tally, limit=3)]
    assert len(first) == 9 and all(first)
    from pymatgen.core import Lattice, Structure

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    request = material_request(rocksalt, "test:NaCl", tally)
    assert request == {"elements": ["Cl", "Na"], "space_group": 225, "answer": "Cl4Na4", "origin": "test:NaCl",
                       "split_group": "test:NaCl", "oxidation_states": "icsd24_ranked", "mixed_valence": False}
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    odd = Structure(Lattice.cubic(4.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5]])
    assert material_request(iron, "fe", tally) is None and material_request(odd, "nacl2", tally) is None
    assert tally.dropped["elemental crystal"] == 1 and tally.dropped["not charge balanced (SMACT)"] == 1


def test_reason_keys_drop_details():
    assert reason_key("gold SMILES is not valid: 'C1CC'") == "gold SMILES is not valid"
    assert reason_key("unknown reaction class 'Oxidation'") == "unknown reaction class"
    assert reason_key("") == "unspecified"
