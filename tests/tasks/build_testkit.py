"""Tiny synthetic raw files in the formats the fetch step extracts, for the build tests.

Names mirror the real layout (see mist_pl/tasks/sources/layout.py), so a folder made by
:func:`write_raw_dir` can stand in for data/raw. The reactions are real chemistry with
hand-written atom maps; the protobuf encoder writes ORD messages field by field.
"""

import gzip
from pathlib import Path

# (atom-mapped reaction, Schneider class id)
MAPPED = [
    ("[CH3:1][C:2](=[O:3])Cl.[NH2:4][CH2:5][CH3:6]>ClCCl>[CH3:1][C:2](=[O:3])[NH:4][CH2:5][CH3:6]", "2.1.1"),
    ("Br[CH2:1][CH3:2].[OH:3][c:4]1[cH:5][cH:6][cH:7][cH:8][cH:9]1>CN(C)C=O>[CH3:2][CH2:1][O:3][c:4]1[cH:5][cH:6][cH:7][cH:8][cH:9]1", "1.7.9"),
    ("CC(C)(C)OC(=O)[NH:1][CH2:2][CH2:3][OH:4]>>[NH2:1][CH2:2][CH2:3][OH:4]", "6.1.1"),
    ("[OH:1][CH:2]([CH3:3])[CH2:4][CH3:5]>>[O:1]=[C:2]([CH3:3])[CH2:4][CH3:5]", "8.1.5"),
    ("[O-][N+:1](=O)[c:2]1[cH:3][cH:4][c:5]([CH3:8])[cH:6][cH:7]1>>[NH2:1][c:2]1[cH:3][cH:4][c:5]([CH3:8])[cH:6][cH:7]1", "7.1.1"),
    ("Br[c:1]1[cH:2][cH:3][cH:4][cH:5][cH:6]1.OB(O)[c:7]1[cH:8][cH:9][cH:10][cH:11][cH:12]1>>[c:1]1([c:7]2[cH:8][cH:9][cH:10][cH:11][cH:12]2)[cH:2][cH:3][cH:4][cH:5][cH:6]1", "3.1.1"),
]
BAD_SCHNEIDER_ROWS = [("C1CC>>CC", "2.1.1"), ("CCO>>CC=O", "")]

ORD_REACTIONS = [
    {"reactant_000": "CC(=O)O", "reactant_001": "OCC", "product_000": "CC(=O)OCC", "solvent_000": "<missing>"},
    {"reactant_000": "c1ccccc1Br", "reactant_001": "NCC", "product_000": "CCNc1ccccc1", "reagent_000": "[Pd]"},
    {"reactant_000": "<missing>", "reactant_001": None, "product_000": "CCO", "solvent_000": None},
]

# (name, SMILES) pairs for the ORD protobuf: OPSIN agrees, cannot parse, disagrees
NAME_PAIRS = [("ethanol", "OCC"), ("title compound", "CCCCO"), ("methanol", "CCO"), ("2-methylpropan-1-ol", "CC(C)CO")]


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def compound(identifiers):
    """identifiers: (type, value) pairs; types SMILES=2, IUPAC_NAME=5, NAME=6."""
    return b"".join(field(1, field(1, kind) + field(3, value)) for kind, value in identifiers)


def ord_dataset(pairs):
    reactions = b""
    for name, smiles in pairs:
        component = compound([(6, name), (2, smiles)])
        entry = field(1, "a") + field(2, field(1, component))  # inputs map entry -> ReactionInput.components
        outcome = field(3, compound([(5, name), (2, smiles)]))  # outcome.products
        only_smiles = field(2, field(1, "b") + field(2, field(1, compound([(2, "O")]))))
        reactions += field(3, field(2, entry) + only_smiles + field(8, outcome) + field(10, "rxn-id"))
    return field(1, "dataset") + reactions


def write_raw_dir(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "drfp").mkdir(parents=True)
    lines = ["\toriginal_rxn\trxn_class\tsource\trxn\tsplit"]
    for i, (rxn, cls) in enumerate(MAPPED + BAD_SCHNEIDER_ROWS):
        lines.append(f"{i}\t{rxn}\t{cls}\tUS0\tunused\ttrain")
    (root / "drfp" / "schneider50k.tsv").write_text("\n".join(lines) + "\n")
    for name in ("uspto_yields_above.csv", "uspto_yields_below.csv"):
        (root / "drfp" / name).write_text("yield,split,rxn\n90.0,train,CC(=O)O.OCC>>CC(=O)OCC\n")
    (root / "rxn_insight").mkdir()
    insight = {
        "REACTION": ["NC(=O)c1ccccc1N.O=CO>>O=c1[nH]cnc2ccccc12", "CCO>>CC=O"],
        "MAPPED_REACTION": [None, "[CH3:1][CH2:2][OH:3]>>[CH3:1][CH:2]=[O:3]"],
        "CLASS": ["Aromatic Heterocycle Formation", "Oxidation"],
    }
    pq.write_table(pa.table(insight), root / "rxn_insight" / "1000rxns.gzip")
    (root / "orderly" / "reactions").mkdir(parents=True)
    columns = sorted({k for row in ORD_REACTIONS for k in row})
    table = pa.table({c: [row.get(c) for row in ORD_REACTIONS] for c in columns})
    pq.write_table(table, root / "orderly" / "reactions" / "uspto-test.parquet")
    (root / "orderly" / "datasets" / "ab").mkdir(parents=True)
    with gzip.open(root / "orderly" / "datasets" / "ab" / "ord_dataset-test.pb.gz", "wb") as handle:
        handle.write(ord_dataset(NAME_PAIRS))
    return root
