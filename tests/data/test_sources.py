"""Readers: every format yields records with their origin; malformed rows are reported, not fatal."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mist_pl.data.readers import Malformed, Origin, Record, read_file


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, Malformed)]


def test_csv_reports_malformed_rows_with_file_and_line(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text(
        "name,smiles\n"
        "ethanol,CCO\n"
        "broken,C,extra\n"  # line 3: one field too many
        '"multi\nline",CC\n'  # lines 4-5: a quoted newline is still one record
        "\n"
        "lonely\n"  # line 7: one field too few
        "benzene,c1ccccc1\n"
    )
    records, bad = split(read_file(str(path), "csv"))
    assert [r.fields["name"] for r in records] == ["ethanol", "multi\nline", "benzene"]
    assert records[0].origin == Origin(str(path), 2)
    assert records[1].origin.line == 5  # csv reports the line a record ends on
    assert [(b.reason, b.origin.line) for b in bad] == [
        ("malformed_row:field_count", 3),
        ("malformed_row:field_count", 7),
    ]
    assert str(bad[0].origin) == f"{path}:3"


def test_tsv_headerless_and_gzip(tmp_path):
    path = tmp_path / "mols.smi.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("CCO\t1\nc1ccccc1\t2\n")
    records, bad = split(read_file(str(path), "tsv", {"header": False, "columns": ["smiles", "id"]}))
    assert not bad
    assert [r.fields for r in records] == [{"smiles": "CCO", "id": "1"}, {"smiles": "c1ccccc1", "id": "2"}]


def test_jsonl_malformed_lines(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a"}\n{not json\n\n[1, 2]\n{"text": "b"}\n')
    records, bad = split(read_file(str(path), "jsonl"))
    assert [r.fields["text"] for r in records] == ["a", "b"]
    assert [r.origin.line for r in records] == [1, 5]
    assert [(b.reason, b.origin.line) for b in bad] == [
        ("malformed_row:invalid_json", 2),
        ("malformed_row:not_an_object", 4),
    ]


def test_txt_lines_and_blocks(tmp_path):
    path = tmp_path / "crystals.txt"
    path.write_text("first block\nstill first\n\n\nsecond\n\nthird\n")
    lines, _ = split(read_file(str(path), "txt"))
    assert [r.fields["text"] for r in lines] == ["first block", "still first", "second", "third"]
    blocks, _ = split(read_file(str(path), "txt", {"mode": "block"}))
    assert [r.fields["text"] for r in blocks] == ["first block\nstill first", "second", "third"]
    assert [r.origin.line for r in blocks] == [1, 5, 7]


def test_parquet_rows_and_columns(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"smiles": ["CCO", "CC"], "y": [1, 2]}), path)
    records, _ = split(read_file(str(path), "parquet", {"columns": ["smiles"]}))
    assert [(r.fields, r.origin.line) for r in records] == [({"smiles": "CCO"}, 1), ({"smiles": "CC"}, 2)]


def test_local_hf_datasets(tmp_path):
    import datasets  # a core dependency: missing, the test fails

    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["x", "y"]})}).save_to_disk(folder)
    records, _ = split(read_file(str(folder), "hf"))
    assert [r.fields["text"] for r in records] == ["x", "y"]

    jsonl = tmp_path / "local.jsonl"
    jsonl.write_text(json.dumps({"text": "z"}) + "\n")
    records, _ = split(read_file(str(jsonl), "hf", {"builder": "json"}))
    assert [r.fields["text"] for r in records] == ["z"]
    with pytest.raises(ValueError, match="local files only"):
        list(read_file(str(jsonl), "hf", {"builder": "some-org/some-hub-dataset"}))


def test_cif_dir(tmp_path):
    (tmp_path / "b.cif").write_text("data_b\n")
    (tmp_path / "a.cif").write_text("data_a\n")
    (tmp_path / "notes.txt").write_text("ignored")
    records, _ = split(read_file(str(tmp_path), "cif_dir"))
    assert [(r.fields["file"], r.fields["cif"]) for r in records] == [("a.cif", "data_a\n"), ("b.cif", "data_b\n")]
