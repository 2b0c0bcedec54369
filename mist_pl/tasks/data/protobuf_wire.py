"""A minimal reader of the protocol-buffers wire format (no schema, no dependency).

Enough to walk Open Reaction Database files without ``ord-schema``, whose pinned
protobuf version clashes with the one the rest of the stack needs. :func:`fields`
yields ``(field number, value)`` for one message: an ``int`` for varints, a
``memoryview`` for length-delimited fields (sub-messages, strings, bytes) and for
fixed 32/64-bit fields. Truncated or malformed input raises :class:`WireError`.
"""

from __future__ import annotations

from collections.abc import Iterator

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
