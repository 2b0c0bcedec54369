"""A source's name becomes a folder under the output directory, so it must be a plain name:
``..`` or ``a/b`` would write shards outside the prepared data."""

from __future__ import annotations

import json

import pytest
import yaml

from mist_pl.data.config import load_mixture
from mist_pl.data.errors import DataConfigError
from mist_pl.data.prepare import main


def mixture(tmp_path, name) -> dict:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(5)))
    return {"sources": [{"name": name, "format": "jsonl", "path": str(docs), "weight": 1}]}


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x", "a\\b", "/abs", "", " ", "two words", "x\n", "nul\0l", 7])
def test_a_name_that_is_not_a_plain_name_is_refused_naming_the_source(tmp_path, name):
    with pytest.raises(DataConfigError, match=r"<inline mixture>: sources\[0\] \(.*\)\.name: .*plain name") as error:
        load_mixture(mixture(tmp_path, name))
    assert repr(name) in str(error.value)


@pytest.mark.parametrize("name", ["docs", "nci_molecules", "papers-2024", "v1.2", "...x", "A9"])
def test_plain_names_are_accepted(tmp_path, name):
    assert [s.name for s in load_mixture(mixture(tmp_path, name)).sources] == [name]


def test_prepare_writes_nothing_outside_the_output_directory(tmp_path, tokenizer_dir, capsys):
    mix = mixture(tmp_path, "..")
    mix.update(tokenizer=tokenizer_dir, output_dir=str(tmp_path / "prepared" / "out"))
    config = tmp_path / "mix.yaml"
    config.write_text(yaml.safe_dump(mix))
    assert main(["--config", str(config), "--workers", "0", "--no-progress"]) == 2
    assert "sources[0] ('..').name" in capsys.readouterr().err
    assert not (tmp_path / "prepared").exists()  # no shard in out/.. (nor anywhere)
