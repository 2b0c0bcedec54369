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

The files are walked with a minimal reader of the protocol-buffers wire format (no
schema, no dependency), not with ``ord-schema``, whose pinned protobuf version clashes
with the one the rest of the stack needs. :func:`fields` yields ``(field number, value)`` for one message: an ``int`` for varints, a
``memoryview`` for length-delimited fields (sub-messages, strings, bytes) and for
fixed 32/64-bit fields. Truncated or malformed input raises :class:`WireError`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mist_pl.tasks.examples import Tally
from mist_pl.tasks.sources.layout import require

# -- the wire format -------------------------------------------------------------------

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """The bytes are not a well-formed protocol-buffers message."""


def _varint(buffer: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(at, min(at + _MAX_VARINT_BYTES, len(buffer))):
        byte = buffer[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise WireError(f"truncated or over-long varint at byte {at}")


def fields(message: bytes | memoryview) -> Iterator[tuple[int, int | memoryview]]:
    buffer = memoryview(message)
    at, end = 0, len(buffer)
    while at < end:
        key, at = _varint(buffer, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, at = _varint(buffer, at)
            yield number, value
            continue
        if wire_type == LENGTH_DELIMITED:
            size, at = _varint(buffer, at)
        elif wire_type == FIXED64:
            size = 8
        elif wire_type == FIXED32:
            size = 4
        else:
            raise WireError(f"unsupported wire type {wire_type} at byte {at}")
        if at + size > end:
            raise WireError(f"field {number} runs past the end of the message")
        yield number, buffer[at : at + size]
        at += size


def text(value: int | memoryview) -> str | None:
    """A string field's text, or None if the field is not length-delimited."""
    return bytes(value).decode("utf-8", "replace") if isinstance(value, memoryview) else None


def submessages(message: bytes | memoryview, number: int) -> Iterator[memoryview]:
    """The values of the length-delimited field ``number`` (a repeated sub-message)."""
    for field_number, value in fields(message):
        if field_number == number and isinstance(value, memoryview):
            yield value


# -- ORD compounds ---------------------------------------------------------------------

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
