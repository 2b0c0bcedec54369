"""Compound names with their SMILES from Open Reaction Database files (``*.pb.gz``).

An ORD dataset file is a gzipped ``ord.Dataset`` message. The path to a compound's
identifiers, with field numbers from ord-schema's ``reaction.proto``:

* ``Dataset.reactions`` (3) -> ``Reaction.inputs`` (2, map entry: key 1, value 2)
  -> ``ReactionInput.components`` (1) -> ``Compound.identifiers`` (1);
* ``Reaction.outcomes`` (8) -> ``ReactionOutcome.products`` (3)
  -> ``ProductCompound.identifiers`` (1);
* ``CompoundIdentifier``: ``type`` (1), ``value`` (3); types SMILES = 2,
  IUPAC_NAME = 5, NAME = 6.

A compound with both a name (IUPAC name preferred) and a SMILES gives one pair. Names
ORD writes for roles rather than compounds ("title compound", "product") are dropped by
the OPSIN check downstream, which only keeps names that parse to the same molecule.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mist_pl.tasks.data.layout import require
from mist_pl.tasks.data.protobuf_wire import WireError, fields, submessages, text
from mist_pl.tasks.data.tally import Tally

SMILES, IUPAC_NAME, NAME = 2, 5, 6
MAX_DATASET_BYTES = 512 << 20  # refuse a decompression bomb; the real files are < 40 MB


@dataclass(frozen=True)
class NamedCompound:
    name: str
    smiles: str
    origin: str


def _identifiers(compound: memoryview) -> dict[int, str]:
    found: dict[int, str] = {}
    for identifier in submessages(compound, 1):
        kind, value = 0, None
        for number, field_value in fields(identifier):
            if number == 1 and isinstance(field_value, int):
                kind = field_value
            elif number == 3:
                value = text(field_value)
        if value and value.strip():
            found.setdefault(kind, value.strip())
    return found


def _compounds(reaction: memoryview) -> Iterator[memoryview]:
    for entry in submessages(reaction, 2):  # inputs map entries
        for reaction_input in submessages(entry, 2):
            yield from submessages(reaction_input, 1)
    for outcome in submessages(reaction, 8):
        yield from submessages(outcome, 3)


def read_dataset(path: Path, tally: Tally) -> Iterator[NamedCompound]:
    """Name/SMILES pairs of one ``.pb.gz`` dataset, in file order."""
    with gzip.open(require(path), "rb") as handle:
        data = handle.read(MAX_DATASET_BYTES + 1)
    if len(data) > MAX_DATASET_BYTES:
        raise ValueError(f"{path}: larger than {MAX_DATASET_BYTES} bytes uncompressed")
    try:
        for index, reaction in enumerate(submessages(data, 3), start=1):
            for compound in _compounds(reaction):
                ids = _identifiers(compound)
                name = ids.get(IUPAC_NAME) or ids.get(NAME)
                if name and ids.get(SMILES):
                    yield NamedCompound(name, ids[SMILES], f"{path}:reaction{index}")
    except WireError as error:
        tally.drop("malformed ORD dataset", f"{path}: {error}")


def read_datasets(folder: Path, tally: Tally) -> Iterator[NamedCompound]:
    """Every ``*.pb.gz`` below ``folder``, sorted by path."""
    files = sorted(require(folder).rglob("*.pb.gz"))
    if not files:
        raise ValueError(f"{folder}: no .pb.gz ORD datasets")
    for path in files:
        yield from read_dataset(path, tally)
