"""Readers: files of many formats -> a stream of records, each with the place it came from.

Every reader yields :class:`Record` (a dict of fields and its :class:`Origin`) or
:class:`Malformed` (a row that could not be read, with a reason and its origin). A
malformed row never stops a reader: the caller counts it and moves on, so one broken
line in a million-row file costs one line, and the manifest says which and why.

Formats (``SourceSpec.format``) and their ``options`` (checked by name when the mixture is
loaded, :func:`reader_options`):

- ``csv`` / ``tsv``: ``delimiter`` (``,`` / tab), ``header`` (true: first row names the
  columns), ``columns`` (names for a headerless file), ``encoding``. ``.gz`` files are
  read transparently. A row with the wrong number of fields is malformed.
- ``jsonl``: one JSON object per line; blank lines are skipped.
- ``txt``: ``mode: line`` (each non-blank line is a record) or ``mode: block``
  (blank-line-separated blocks); the text is in field ``text`` (rename with ``field``).
- ``parquet``: rows of every row group; ``columns`` selects columns.
- ``hf``: a local Hugging Face dataset: a ``save_to_disk`` folder (``split`` picks from a
  DatasetDict) or local files loaded with a packaged builder (``builder: json|csv|parquet|text``).
  The hub is never contacted.
- ``cif_dir``: every ``*.cif`` in a folder (``pattern``, ``recursive``); fields ``cif``, ``file``.

Text is decoded with the source's ``encoding`` (UTF-8 by default). A row holding bytes
that are not valid in it (a Latin-1 line in a UTF-8 file) is malformed,
``malformed_row:undecodable``, with the first such byte and the option to set: decoding
it with replacement characters would train on text nobody wrote and count it nowhere. A
file is decoded with ``surrogateescape`` so such bytes reach the reader intact and are
found per row (a U+FFFD written in valid UTF-8 is text, and kept).

This module is the bottom of the data readers: it imports no other part of the
package. Reading a whole source (a named corpus or files) is
:func:`mist_pl.data.corpora.read_source`.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union


@dataclass(frozen=True)
class Origin:
    """Where a record came from: a file and a 1-based line (text files) or row (tables)."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Record:
    fields: dict[str, Any]
    origin: Origin


@dataclass
class Malformed:
    """A row the reader could not turn into a record."""

    reason: str
    origin: Origin
    detail: str = ""


Item = Union[Record, Malformed]


def read_file(path: str, fmt: str, options: Optional[dict] = None) -> Iterator[Item]:
    """Items of one file (or folder) in format ``fmt``."""
    options = dict(options or {})
    if fmt == "tsv":
        options.setdefault("delimiter", "\t")
    try:
        reader = _READERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; known: {sorted(_READERS)}") from None
    return reader(path, **options)


def reader_options(fmt: str) -> tuple[str, ...]:
    """The ``options`` the reader of ``fmt`` takes (its keyword arguments), sorted: the
    names a mixture is checked against when it is loaded, so that a misspelled option
    fails at start-up naming the source instead of as a ``TypeError`` mid-read."""
    parameters = list(inspect.signature(_READERS[fmt]).parameters)[1:]  # after `path`
    return tuple(sorted(parameters))


# Where ``surrogateescape`` put an undecodable byte: U+DC80..U+DCFF (byte 0x80..0xFF). No
# valid text decodes to these lone surrogates.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def open_text(path: str, encoding: str = "utf-8") -> io.TextIOBase:
    """Open a text file, gunzipping ``*.gz``. Undecodable bytes do not raise: they come
    through as lone surrogates, which :func:`undecodable` finds in a row."""
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, errors="surrogateescape", newline="")
    return open(path, encoding=encoding, errors="surrogateescape", newline="")


def undecodable(origin: Origin, texts: Iterable[str], encoding: str) -> Optional[Malformed]:
    """The malformed item for a row whose text holds bytes not valid in ``encoding``, naming
    the first such byte and how to read the file instead; None for a clean row."""
    for text in texts:
        found = _UNDECODABLE.search(text) if isinstance(text, str) else None
        if found is not None:
            byte = ord(found.group()) - 0xDC00
            return Malformed(
                "malformed_row:undecodable", origin,
                f"byte 0x{byte:02x} is not valid {encoding}; the row is dropped. If the file is in another "
                f"encoding, name it in the source's options, e.g. options: {{encoding: latin-1}}",
            )
    return None


def _read_csv(
    path: str,
    delimiter: str = ",",
    header: bool = True,
    columns: Optional[list[str]] = None,
    encoding: str = "utf-8",
    quotechar: str = '"',
) -> Iterator[Item]:
    with open_text(path, encoding) as handle:
        rows = csv.reader(handle, delimiter=delimiter, quotechar=quotechar)
        names = list(columns) if columns else None
        if header:
            first = next(rows, None)
            if first is None:
                return
            names = names or [name.strip() for name in first]
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as err:  # e.g. a NUL byte or an unterminated quote
                yield Malformed("malformed_row:csv_error", Origin(path, rows.line_num), str(err))
                continue
            origin = Origin(path, rows.line_num)
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if names is None:
                names = [f"column{i}" for i in range(len(row))]
            if len(row) != len(names):
                yield Malformed(
                    "malformed_row:field_count", origin, f"{len(row)} fields, expected {len(names)}"
                )
                continue
            bad = undecodable(origin, row, encoding)
            if bad is not None:
                yield bad
                continue
            yield Record(dict(zip(names, row)), origin)


def _read_jsonl(path: str, encoding: str = "utf-8") -> Iterator[Item]:
    with open_text(path, encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            origin = Origin(path, number)
            bad = undecodable(origin, (line,), encoding)
            if bad is not None:
                yield bad
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                yield Malformed("malformed_row:invalid_json", origin, err.msg)
                continue
            if not isinstance(value, dict):
                yield Malformed("malformed_row:not_an_object", origin, type(value).__name__)
                continue
            yield Record(value, origin)


def _read_txt(path: str, mode: str = "line", field: str = "text", encoding: str = "utf-8") -> Iterator[Item]:
    if mode not in ("line", "block"):
        raise ValueError(f"txt option mode={mode!r}: expected 'line' or 'block'")
    def item(text: str, line: int) -> Item:
        origin = Origin(path, line)
        return undecodable(origin, (text,), encoding) or Record({field: text}, origin)

    with open_text(path, encoding) as handle:
        block: list[str] = []
        start = 0
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if mode == "line":
                if line.strip():
                    yield item(line, number)
                continue
            if line.strip():
                if not block:
                    start = number
                block.append(line)
            elif block:
                yield item("\n".join(block), start)
                block = []
        if block:
            yield item("\n".join(block), start)


def _read_parquet(path: str, columns: Optional[list[str]] = None, batch_size: int = 1024) -> Iterator[Item]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
        for values in batch.to_pylist():
            row += 1
            yield Record(values, Origin(path, row))


_PACKAGED_BUILDERS = ("json", "csv", "parquet", "text", "arrow")


def _read_hf(path: str, split: Optional[str] = None, builder: Optional[str] = None) -> Iterator[Item]:
    import datasets

    if builder is None:
        dataset = datasets.load_from_disk(path)
        if isinstance(dataset, datasets.DatasetDict):
            if split is None:
                if len(dataset) != 1:
                    raise ValueError(f"{path} holds splits {list(dataset)}; set options.split")
                split = next(iter(dataset))
            dataset = dataset[split]
    else:
        # Only packaged builders reading local files: a hub name here would mean a download.
        if builder not in _PACKAGED_BUILDERS:
            raise ValueError(f"hf option builder={builder!r}: expected one of {_PACKAGED_BUILDERS} (local files only)")
        files = sorted(str(p) for p in Path(path).glob("*")) if os.path.isdir(path) else [path]
        dataset = datasets.load_dataset(builder, data_files=files, split=split or "train")
    for row, values in enumerate(dataset, start=1):
        yield Record(dict(values), Origin(path, row))


def _read_cif_dir(path: str, pattern: str = "*.cif", recursive: bool = False, encoding: str = "utf-8") -> Iterator[Item]:
    root = Path(path)
    files = sorted(root.rglob(pattern) if recursive else root.glob(pattern))
    for file in files:
        origin = Origin(str(file), 1)
        try:
            text = file.read_text(encoding=encoding)
        except (OSError, UnicodeDecodeError) as err:
            yield Malformed("malformed_row:unreadable_file", origin, str(err))
            continue
        yield Record({"cif": text, "file": file.name}, origin)


_READERS = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "jsonl": _read_jsonl,
    "txt": _read_txt,
    "parquet": _read_parquet,
    "hf": _read_hf,
    "cif_dir": _read_cif_dir,
}
