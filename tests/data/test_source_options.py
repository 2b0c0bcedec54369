"""Reader and corpus options are checked by name when the mixture is loaded: a misspelled
reader option (``options: {delimitter: ";"}``) ended in a raw ``TypeError`` naming neither
the source nor the file, and an unknown corpus option was silently ignored. The message
names the file, the source, the option and the allowed names."""

from __future__ import annotations

import pytest
import yaml

from mist_pl.data.config import load_mixture
from mist_pl.data.errors import DataConfigError


def mixture(tmp_path, source: dict):
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump({"name": "m", "seed": 1, "sources": [{"name": "src", "weight": 1.0, **source}]}))
    return path


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text;n\nhello;1\n")
    return str(path)


def test_a_misspelled_reader_option_is_named_with_the_allowed_ones(tmp_path, table):
    path = mixture(tmp_path, {"format": "csv", "path": table, "options": {"delimitter": ";"}})
    with pytest.raises(DataConfigError) as error:
        load_mixture(path)
    message = str(error.value)
    assert message.startswith(f"{path}: sources[0] ('src').options: unknown option 'delimitter' for format 'csv'")
    assert "allowed: columns, delimiter, encoding, header, quotechar" in message
    assert "did you mean 'delimiter'?" in message


@pytest.mark.parametrize("corpus, option, allowed", [
    ("rdkit_nci", "split", "none"),
    ("general_text", "mdoe", "mode"),
    ("moses", "spilt", "split"),
    ("task_sft", "taks", "path, task"),
])
def test_an_unknown_corpus_option_is_named_with_the_allowed_ones(tmp_path, corpus, option, allowed):
    path = mixture(tmp_path, {"corpus": corpus, "options": {option: "x"}})
    with pytest.raises(DataConfigError) as error:
        load_mixture(path)
    message = str(error.value)
    assert f"{path}: sources[0] ('src').options: unknown option '{option}' for corpus '{corpus}'" in message
    assert f"allowed: {allowed}" in message


def test_the_allowed_options_are_those_the_readers_take(tmp_path, table):
    from mist_pl.data.sources import reader_options

    assert reader_options("tsv") == reader_options("csv") == ("columns", "delimiter", "encoding", "header", "quotechar")
    assert reader_options("txt") == ("encoding", "field", "mode")
    cfg = load_mixture(mixture(tmp_path, {"format": "csv", "path": table, "options": {"delimiter": ";"}}))
    assert cfg.sources[0].options == {"delimiter": ";"}
