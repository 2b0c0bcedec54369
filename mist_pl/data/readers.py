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
  Only regular files inside the folder are read: a FIFO, a device or a link leading
  outside the folder is a malformed row.

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
import stat
from dataclasses import dataclass
from pathlib import Path, PurePath
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
    for name, value in options.items():
        problem = option_problem(name, value)
        if problem is not None:
            raise ValueError(f"{fmt} option {name}={value!r}: {problem}")
    return reader(path, **options)


def reader_options(fmt: str) -> tuple[str, ...]:
    """The ``options`` the reader of ``fmt`` takes (its keyword arguments), sorted: the
    names a mixture is checked against when it is loaded, so that a misspelled option
    fails at start-up naming the source instead of as a ``TypeError`` mid-read."""
    parameters = list(inspect.signature(_READERS[fmt]).parameters)[1:]  # after `path`
    return tuple(sorted(parameters))


def option_problem(name: str, value: Any) -> Optional[str]:
    """Why ``value`` cannot be the reader option ``name``, or None when it can. Checked when
    a mixture is loaded (naming the source) and by :func:`read_file`, so that a value a
    reader cannot use never surfaces as a bare ``LookupError`` or ``TypeError`` mid-read.
    An option name no reader takes is the name check's business (:func:`reader_options`)."""
    check = _OPTION_CHECKS.get(name)
    return check(value) if check is not None else None


def _text_encoding(value: Any) -> Optional[str]:
    if not isinstance(value, str):
        return "expected the name of a text encoding, e.g. utf-8 or latin-1"
    try:  # what open() does with it: refuses unknown names and bytes-to-bytes codecs (hex)
        io.TextIOWrapper(io.BytesIO(), encoding=value)
    except LookupError as err:
        return str(err)
    return None


def _csv_character(name: str):
    def check(value: Any) -> Optional[str]:
        try:
            csv.reader((), **{name: value})
        except TypeError as err:
            return str(err)
        return None

    return check


def _one_of(*allowed: Any):
    def check(value: Any) -> Optional[str]:
        return None if value in allowed else f"expected one of {', '.join(map(repr, allowed))}"

    return check


def _flag(value: Any) -> Optional[str]:
    return None if isinstance(value, bool) else "expected true or false"


def _name(value: Any) -> Optional[str]:
    return None if isinstance(value, str) and value else "expected a non-empty name"


def _optional_name(value: Any) -> Optional[str]:
    return None if value is None else _name(value)


def _column_names(value: Any) -> Optional[str]:
    if value is None or (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        return None
    return "expected a list of column names"


def _count(value: Any) -> Optional[str]:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "expected a whole number >= 1"


def _pattern(value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value:
        return "expected a file name pattern such as *.cif"
    pattern = PurePath(value)
    if pattern.is_absolute() or ".." in pattern.parts:
        return "a pattern must stay inside the folder: relative, without '..'"
    return None


# Only packaged builders, which read local files: a hub dataset name would mean a download.
_PACKAGED_BUILDERS = ("json", "csv", "parquet", "text", "arrow")


def _builder(value: Any) -> Optional[str]:
    problem = _one_of(None, *_PACKAGED_BUILDERS)(value)
    return f"{problem} (local files only)" if problem else None


_OPTION_CHECKS = {
    "encoding": _text_encoding,
    "delimiter": _csv_character("delimiter"),
    "quotechar": _csv_character("quotechar"),
    "header": _flag,
    "recursive": _flag,
    "columns": _column_names,
    "mode": _one_of("line", "block"),
    "field": _name,
    "batch_size": _count,
    "split": _optional_name,
    "builder": _builder,
    "pattern": _pattern,
}


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


class RowError(ValueError):
    """A row that is not a record: ``reason`` is a fixed word to count rows by, ``detail``
    says what is wrong with this one."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def json_object(line: str) -> dict:
    """The JSON object on one line of a jsonl file; :class:`RowError` ``invalid_json`` or
    ``not_an_object`` otherwise. Every reader of jsonl rows (mixture sources, GRPO prompts,
    evaluation splits) parses them here, so a bad line is one bad row everywhere."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise RowError("invalid_json", err.msg) from None
    except RecursionError:  # the parser recurses per nesting level: deep input is bad input
        raise RowError("invalid_json", "nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise RowError("not_an_object", type(value).__name__)
    return value


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
                value = json_object(line)
            except RowError as err:
                yield Malformed(f"malformed_row:{err.reason}", origin, err.detail)
                continue
            yield Record(value, origin)


def _read_txt(path: str, mode: str = "line", field: str = "text", encoding: str = "utf-8") -> Iterator[Item]:
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
    else:  # a packaged builder (option_problem): local files only
        files = sorted(str(p) for p in Path(path).glob("*")) if os.path.isdir(path) else [path]
        dataset = datasets.load_dataset(builder, data_files=files, split=split or "train")
    for row, values in enumerate(dataset, start=1):
        yield Record(dict(values), Origin(path, row))


# Opening a FIFO for reading waits for a writer, unless non-blocking; the final component
# must not be a link (links were resolved and checked before). Neither flag exists on Windows.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


def _regular_file_text(path: str, encoding: str) -> Optional[str]:
    """The text of ``path`` if it is a regular file, else None (a FIFO, a device, a folder):
    checked on the open file, so nothing can be swapped in between check and read."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with open(fd, encoding=encoding, closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _read_cif_dir(path: str, pattern: str = "*.cif", recursive: bool = False, encoding: str = "utf-8") -> Iterator[Item]:
    """Regular files inside the folder only. A link, or a pattern through a linked folder,
    can lead anywhere: it is read only when it leads to a file inside the folder. Anything
    else, and anything but a regular file, is a malformed row."""
    root = Path(path)
    inside = os.path.realpath(root)
    files = sorted(root.rglob(pattern) if recursive else root.glob(pattern))
    for file in files:
        origin = Origin(str(file), 1)
        real = os.path.realpath(file)
        if os.path.commonpath([inside, real]) != inside:
            yield Malformed("malformed_row:outside_folder", origin, f"leads to {real}, outside {inside}")
            continue
        try:
            text = _regular_file_text(real, encoding)
        except (OSError, UnicodeDecodeError) as err:
            yield Malformed("malformed_row:unreadable_file", origin, str(err))
            continue
        if text is None:
            yield Malformed("malformed_row:not_a_regular_file", origin, f"{real} is a FIFO, a device or a folder")
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
