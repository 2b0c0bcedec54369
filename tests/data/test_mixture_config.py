"""Bad mixture files fail before any work, with messages naming the file and the field."""

from __future__ import annotations

import pytest
import yaml

from mist_pl.data.config import load_mixture
from mist_pl.data.documents import check_sources
from mist_pl.data.errors import DataConfigError


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def good_source(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "hello"}\n')
    return {"name": "docs", "format": "jsonl", "path": str(path), "weight": 1}


def test_loads_yaml_with_numeric_string_weight(tmp_path, good_source):
    # YAML 1.1 reads 1e-3 as a string: it must still parse as a weight.
    good_source["weight"] = "1e-3"
    cfg = load_mixture(write_yaml(tmp_path / "mix.yaml", {"seed": 3, "sources": [good_source]}))
    assert cfg.sources[0].weight == pytest.approx(1e-3)
    assert cfg.sources[0].transform == {"kind": "text", "column": "text"}
    assert cfg.origin.endswith("mix.yaml")


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"weight": "lots"}, "sources[0] ('docs').weight", "'lots' is not a number"),
        ({"weight": -1}, "sources[0] ('docs').weight", "> 0"),
        ({"weight": None}, "sources[0] ('docs')", "exactly one of 'weight' or 'tokens'"),
        ({"tokens": 100}, "sources[0] ('docs')", "exactly one of 'weight' or 'tokens'"),
        ({"path": "/no/such/file.jsonl"}, "sources[0] ('docs').path", "file not found: /no/such/file.jsonl"),
        ({"format": "xlsx"}, "sources[0] ('docs').format", "'xlsx' is not one of"),
        ({"transform": {"kind": "poetry"}}, "sources[0] ('docs').transform.kind", "'poetry' is not one of"),
        ({"transform": {"kind": "text", "colum": "x"}}, "sources[0] ('docs').transform", "unknown option(s) ['colum']"),
        ({"corpus": "not_a_corpus", "format": None, "path": None}, "sources[0] ('docs').corpus", "unknown corpus"),
        ({"corpus": "rdkit_nci"}, "sources[0] ('docs')", "either 'corpus' or 'format' + 'path'"),
        ({"transform": "text"}, "sources[0] ('docs').transform", "expected a mapping"),
        ({"max_records": "ten"}, "sources[0] ('docs').max_records", "not an integer"),
    ],
)
def test_bad_field_is_named(tmp_path, good_source, change, field, message):
    path = write_yaml(tmp_path / "bad.yaml", {"sources": [{**good_source, **change}]})
    with pytest.raises(DataConfigError) as err:
        load_mixture(path)
    assert f"{path}: {field}" in str(err.value)
    assert message in str(err.value)


def test_top_level_errors(tmp_path, good_source):
    with pytest.raises(DataConfigError, match="mixture file not found"):
        load_mixture(tmp_path / "missing.yaml")
    with pytest.raises(DataConfigError, match=r"unknown top-level field\(s\) \['sed'\]"):
        load_mixture(write_yaml(tmp_path / "a.yaml", {"sed": 1, "sources": [good_source]}))
    with pytest.raises(DataConfigError, match=r"a.yaml: sources\[1\] \('docs'\).name: duplicate"):
        load_mixture(write_yaml(tmp_path / "a.yaml", {"sources": [good_source, good_source]}))
    other = {**good_source, "name": "other", "weight": None, "tokens": 10}
    with pytest.raises(DataConfigError, match="not both"):
        load_mixture(write_yaml(tmp_path / "a.yaml", {"sources": [good_source, other]}))
    with pytest.raises(DataConfigError, match=r"a.yaml: seed: 'x' is not an integer"):
        load_mixture(write_yaml(tmp_path / "a.yaml", {"seed": "x", "sources": [good_source]}))


def test_optional_missing_source_is_dropped(tmp_path, good_source):
    missing = {**good_source, "name": "gone", "path": str(tmp_path / "gone.jsonl"), "optional": True}
    with pytest.warns(UserWarning, match="optional source dropped"):
        cfg = load_mixture({"sources": [missing, good_source]})
    assert [s.name for s in cfg.sources] == ["docs"]
    # Errors about later sources still use their index in the file.
    assert cfg.source_field(0, "weight") == "<inline mixture>: sources[1] ('docs').weight"


def test_source_without_valid_records_fails_naming_file_and_field(tmp_path, good_source):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no text field"}\nnot json\n')
    cfg = load_mixture(
        write_yaml(tmp_path / "mix.yaml", {"sources": [good_source, {**good_source, "name": "bad", "path": str(bad)}]})
    )
    with pytest.raises(DataConfigError) as err:
        check_sources(cfg)
    text = str(err.value)
    assert f"{tmp_path / 'mix.yaml'}: sources[1] ('bad').path ({bad})" in text
    assert "missing_field:text=1" in text and "malformed_row:invalid_json=1" in text
    assert f"{bad}:1" in text  # the first example points at the line
