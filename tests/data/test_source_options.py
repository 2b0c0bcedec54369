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
    from mist_pl.data.readers import reader_options

    assert reader_options("tsv") == reader_options("csv") == ("columns", "delimiter", "encoding", "header", "quotechar")
    assert reader_options("txt") == ("encoding", "field", "mode")
    cfg = load_mixture(mixture(tmp_path, {"format": "csv", "path": table, "options": {"delimiter": ";"}}))
    assert cfg.sources[0].options == {"delimiter": ";"}


# Option values: a name the reader takes with a value it cannot use ended in a bare
# LookupError / TypeError mid-read (``encoding: latin-99``, ``delimiter: ''``), naming
# neither the source nor the option.
@pytest.mark.parametrize("fmt, option, value, says", [
    ("csv", "encoding", "latin-99", "unknown encoding: latin-99"),
    ("jsonl", "encoding", "hex", "'hex' is not a text encoding"),
    ("txt", "encoding", 8, "expected the name of a text encoding"),
    ("csv", "delimiter", "", '"delimiter" must be a 1-character string'),
    ("tsv", "quotechar", "''", '"quotechar" must be a 1-character string'),
    ("csv", "header", "false", "expected true or false"),
    ("csv", "columns", "smiles", "expected a list of column names"),
    ("txt", "mode", "lines", "expected one of 'line', 'block'"),
    ("txt", "field", "", "expected a non-empty name"),
    ("parquet", "batch_size", 0, "expected a whole number >= 1"),
    ("hf", "builder", "squad", "expected one of None, 'json'"),
    ("cif_dir", "pattern", "../*.cif", "must stay inside the folder"),
    ("cif_dir", "recursive", "yes", "expected true or false"),
])
def test_an_unusable_option_value_names_the_source_option_and_value(tmp_path, table, fmt, option, value, says):
    location = str(tmp_path) if fmt in ("hf", "cif_dir") else table
    path = mixture(tmp_path, {"format": fmt, "path": location, "options": {option: value}})
    with pytest.raises(DataConfigError) as error:
        load_mixture(path)
    message = str(error.value)
    assert message.startswith(f"{path}: sources[0] ('src').options.{option}: {value!r} is not usable for format {fmt!r}: ")
    assert says in message


def test_a_reader_refuses_an_unusable_value_naming_the_option(table):
    from mist_pl.data.readers import read_file

    with pytest.raises(ValueError, match=r"csv option encoding='latin-99': unknown encoding: latin-99"):
        read_file(table, "csv", {"encoding": "latin-99"})
    with pytest.raises(ValueError, match=r"csv option delimiter='': \"delimiter\" must be a 1-character string"):
        read_file(table, "csv", {"delimiter": ""})


def test_every_reader_option_is_checked_and_its_default_accepted():
    import inspect

    from mist_pl.data.config import FILE_FORMATS
    from mist_pl.data.readers import _READERS, option_problem

    for fmt in FILE_FORMATS:
        for name, parameter in list(inspect.signature(_READERS[fmt]).parameters.items())[1:]:
            assert option_problem(name, parameter.default) is None, (fmt, name)
            assert option_problem(name, object()) is not None, (fmt, name)  # a value no option takes
