"""Model output reaches these functions: none may raise, hang or print on arbitrary text."""

from __future__ import annotations

import random
import time

from mist_pl.chem import crystals, reactions, smiles, spans
from mist_pl.chem.charge_balance import is_charge_balanced
from mist_pl.chem.crystal_compact import try_from_compact
from mist_pl.chem.describe import describe_molecule, describe_reaction

ALPHABET = "CNOSPFIclBrnos[]()=#@+-.%0123456789/\\>:*Hae \n\t_"
SEEDS = [
    "", " ", "[", "]]", "[[[[", "C(((", "C%", "C%1", "%%%%", ">>", ">", "C>C>C>C", "[H]", "[2H]", "[CH5+9]",
    "[Na+].[Cl-]>>", "C1CC2CC3CC1", "*", "**", "[*:1]", "c", "n1cccc1", "[nH]1cccc1", "B", "[Xx]", "C@@",
    "data_", "data_x\nloop_\n_atom_site_fract_x\n1\n", "serialized_cif formula", "<answer>CCO</answer>",
    "\x00", "C\x00C", "😀", "NaCl", "Na2Cl", "Fe2+O3", "x" * 5000, "(" * 3000, "1" * 3000, "C" * 2001,
    "[" + "C" * 1000 + "]", "C=C=C=C=C=C", "[U+100]", "[C@TB30H]", "C/C=C/C/C=C\\C",
]


def random_strings(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))
        for _ in range(count)
    ]


def call_everything(text: str) -> None:
    smiles.parse(text)
    smiles.canonicalize(text)
    smiles.canonicalize(text, isomeric=False)
    smiles.randomize(text, 2, seed=1)
    smiles.strip_atom_maps(text)
    smiles.inchikey(text)
    smiles.same_molecule(text, "CCO")
    smiles.tanimoto(text, "CCO")
    smiles.parse_with_messages(text)
    spans.tag_smiles_spans(text)
    spans.tag_smiles(text)
    reactions.canonicalize_reaction(text)
    reactions.reaction_problems(text)
    describe_molecule(text)
    describe_reaction(text)
    crystals.try_parse_cif(text)
    crystals.cif_problems(text)
    try_from_compact(text)
    crystals.composition_elements(text)
    is_charge_balanced(text)


def test_arbitrary_strings_never_raise_or_print(capfd):
    start = time.perf_counter()
    for text in SEEDS + random_strings(400):
        call_everything(text)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert time.perf_counter() - start < 20
