"""Bytes that are not valid in the file's encoding are counted, not hidden: a Latin-1 row
in a UTF-8 ``.txt``/``.csv``/``.jsonl`` source was decoded with replacement characters and
trained on, counted nowhere (CIF folders already counted unreadable files). Such a row is
now dropped as ``malformed_row:undecodable`` with its file:line and the option that reads
the file in its real encoding; a real U+FFFD written in valid UTF-8 is kept."""

from __future__ import annotations

import gzip
import json

import yaml

from mist_pl.data.config import load_mixture
from mist_pl.data.prepare import prepare
from mist_pl.data.readers import Malformed, Record, read_file

LATIN1 = "café au lait".encode("latin-1")  # b"caf\xe9 ...": not UTF-8
REAL_FFFD = "a real \ufffd in UTF-8".encode()


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, Malformed)]


def check_dropped(bad, path, line):
    assert [(b.reason, b.origin.line) for b in bad] == [("malformed_row:undecodable", line)]
    assert str(bad[0].origin) == f"{path}:{line}"
    assert "0xe9" in bad[0].detail and "encoding" in bad[0].detail and "latin-1" in bad[0].detail


def test_txt_lines_and_blocks(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"first line\n" + LATIN1 + b"\n" + REAL_FFFD + b"\n")
    records, bad = split(read_file(str(path), "txt"))
    assert [r.fields["text"] for r in records] == ["first line", "a real \ufffd in UTF-8"]
    check_dropped(bad, path, 2)
    records, bad = split(read_file(str(path), "txt", {"mode": "block"}))
    assert records == [] and len(bad) == 1 and bad[0].origin.line == 1  # the block starts on line 1


def test_csv_and_gzip(tmp_path):
    path = tmp_path / "mols.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"name,smiles\nethanol,CCO\n" + LATIN1 + b",CC\nbenzene,c1ccccc1\n")
    records, bad = split(read_file(str(path), "csv"))
    assert [r.fields["name"] for r in records] == ["ethanol", "benzene"]
    check_dropped(bad, path, 3)


def test_jsonl(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "' + LATIN1 + b'"}\n')
    records, bad = split(read_file(str(path), "jsonl"))
    assert [r.fields["text"] for r in records] == ["ok"]
    check_dropped(bad, path, 2)


def test_the_named_encoding_reads_the_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name,smiles\n" + LATIN1 + b",CC\n")
    records, bad = split(read_file(str(path), "csv", {"encoding": "latin-1"}))
    assert not bad and records[0].fields["name"] == "café au lait"


def test_prepare_counts_them_as_a_drop_reason(tmp_path, tokenizer_dir):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"ethanol is CCO\n" + LATIN1 + b"\nwater is O\n")
    mix = {"name": "latin", "seed": 1, "tokenizer": tokenizer_dir, "output_dir": str(tmp_path / "out"),
           "sources": [{"name": "notes", "format": "txt", "path": str(path), "weight": 1.0}]}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mix))
    manifest = prepare(load_mixture(tmp_path / "mix.yaml"), workers=0, progress=False)
    totals = manifest["sources"]["notes"]["totals"]
    assert totals["records"] == 3 and totals["kept"] == 2
    assert totals["dropped"] == {"malformed_row:undecodable": 1}
    assert totals["examples"]["malformed_row:undecodable"].startswith(f"{path}:2: ")
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
