"""prepare: shards + manifest with drop counts; re-runs skip finished shards; interruptions lose nothing."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import mist_pl.data.prepare as prepare_module
from mist_pl.data.config import load_mixture
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.data.prepare import main, prepare
from mist_pl.data.shards import map_shard


@pytest.fixture
def mix_file(tmp_path, tokenizer_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"document number {i} " + "word " * (i % 7)}) + "\n" for i in range(45)))
    table = tmp_path / "facts.csv"
    rows = ["name,formula"] + [f"compound{i},C{i}H{2 * i + 2}" for i in range(1, 24)]
    rows[5] = "broken,row,with,extra,fields"  # line 6
    rows[9] = "compound9,"  # line 10: empty formula
    table.write_text("\n".join(rows) + "\n")
    mix = {
        "name": "tiny",
        "seed": 11,
        "tokenizer": tokenizer_dir,
        "output_dir": str(tmp_path / "out"),
        "shard_records": 10,
        "sources": [
            {"name": "docs", "format": "jsonl", "path": str(docs), "weight": 0.6},
            {
                "name": "facts",
                "format": "csv",
                "path": str(table),
                "weight": 0.4,
                "transform": {"kind": "text", "template": "{name} has formula {formula}."},
            },
        ],
    }
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(mix))
    return path


@pytest.fixture
def count_builds(monkeypatch):
    calls: list[str] = []
    real = prepare_module.build_shard

    def counting(spec, seed, chunk, path, tokenizer=None):
        calls.append(f"{spec.name}/{path.name}")
        return real(spec, seed, chunk, path, tokenizer)

    monkeypatch.setattr(prepare_module, "build_shard", counting)
    return calls


def shard_bytes(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.arrow"))}


def test_prepare_writes_shards_and_manifest(mix_file, tmp_path):
    manifest = prepare(load_mixture(mix_file), workers=0, progress=False)
    out = tmp_path / "out"
    assert json.loads((out / "manifest.json").read_text()) == manifest
    docs, facts = manifest["sources"]["docs"], manifest["sources"]["facts"]
    assert docs["complete"] and docs["num_shards"] == 5 and len(docs["shards"]) == 5
    assert docs["totals"]["records"] == 45 and docs["totals"]["kept"] == 45
    # The csv: 23 rows, one malformed; an empty field still fills the template.
    assert facts["totals"]["records"] == 23
    assert facts["totals"]["dropped"] == {"malformed_row:field_count": 1}
    assert facts["totals"]["examples"]["malformed_row:field_count"].startswith(f"{tmp_path / 'facts.csv'}:6")
    assert facts["totals"]["kept"] == 22
    # Token counts in the manifest are those of the shards.
    for name, entry in manifest["sources"].items():
        tokens = sum(len(map_shard(out / name / shard)[0]) for shard in entry["shards"])
        assert tokens == entry["totals"]["tokens"] > 0
    assert not list(out.rglob("*.tmp"))


def test_rerun_skips_finished_shards_and_redoes_lost_ones(mix_file, tmp_path, count_builds):
    cfg = load_mixture(mix_file)
    prepare(cfg, workers=0, progress=False)
    out = tmp_path / "out"
    first = shard_bytes(out)
    assert len(count_builds) == 8

    count_builds.clear()
    prepare(cfg, workers=0, progress=False)
    assert count_builds == []

    (out / "docs" / "shard-00002.arrow").unlink()  # a lost file
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["sources"]["facts"]["shards"]["shard-00001.arrow"]  # killed before the manifest update
    (out / "manifest.json").write_text(json.dumps(manifest))
    prepare(cfg, workers=0, progress=False)
    assert sorted(count_builds) == ["docs/shard-00002.arrow", "facts/shard-00001.arrow"]
    assert shard_bytes(out) == first  # deterministic: rebuilt shards are byte-identical


def test_interrupted_prepare_keeps_finished_shards(mix_file, tmp_path, monkeypatch):
    cfg = load_mixture(mix_file)
    real = prepare_module.build_shard
    built: list[str] = []

    def crash_on_fourth(spec, seed, chunk, path, tokenizer=None):
        if len(built) == 3:
            raise KeyboardInterrupt
        built.append(path.name)
        return real(spec, seed, chunk, path, tokenizer)

    monkeypatch.setattr(prepare_module, "build_shard", crash_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg, workers=0, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(manifest["sources"]["docs"]["shards"]) == built
    assert not manifest["sources"]["docs"]["complete"]

    monkeypatch.setattr(prepare_module, "build_shard", real)
    done = prepare(cfg, workers=0, progress=False)
    assert all(entry["complete"] for entry in done["sources"].values())


def test_parallel_prepare_matches_in_process(mix_file, tmp_path):
    cfg = load_mixture(mix_file)
    prepare(cfg, output_dir=str(tmp_path / "serial"), workers=0, progress=False)
    prepare(cfg, output_dir=str(tmp_path / "parallel"), workers=2, progress=False)
    assert shard_bytes(tmp_path / "serial") == shard_bytes(tmp_path / "parallel")


def test_training_from_shards_equals_training_from_sources(mix_file, tmp_path):
    prepare(load_mixture(mix_file), workers=0, progress=False)
    kwargs = dict(seq_len=32, batch_size=4, num_workers=0)
    from_shards = MixtureDataModule(str(mix_file), prepared_dir=str(tmp_path / "out"), **kwargs)
    on_the_fly = MixtureDataModule(str(mix_file), **kwargs)
    for dm in (from_shards, on_the_fly):
        dm.setup("fit")
    for a, b in zip(list(from_shards.train_dataloader())[:5], list(on_the_fly.train_dataloader())[:5]):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["source_ids"], b["source_ids"])
    assert from_shards.source_stats["facts"].dropped == {"malformed_row:field_count": 1}


def test_data_module_prepares_missing_shards(mix_file, tmp_path, count_builds):
    dm = MixtureDataModule(str(mix_file), prepared_dir=str(tmp_path / "auto"), seq_len=32, batch_size=2)
    dm.prepare_data()
    assert len(count_builds) == 8
    dm.prepare_data()  # finished shards are not rebuilt
    assert len(count_builds) == 8
    dm.setup("fit")
    assert dm.source_stats["docs"].kept == 45


def test_shards_of_another_tokenizer_are_refused(mix_file, tmp_path):
    from mist_pl.models.tokenizer import build_chem_tokenizer

    prepare(load_mixture(mix_file), workers=0, progress=False)
    other = build_chem_tokenizer(["completely different text"] * 4, vocab_size=280)
    dm = MixtureDataModule(str(mix_file), tokenizer=other, prepared_dir=str(tmp_path / "out"))
    with pytest.raises(DataConfigError, match="manifest.json: tokenizer"):
        dm.setup("fit")


def test_cli(mix_file, tmp_path, capsys):
    assert main(["--config", str(mix_file), "--workers", "0", "--no-progress"]) == 0
    assert "facts" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(mix_file.read_text().replace("weight: 0.4", "weight: heavy"))
    assert main(["--config", str(bad), "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: sources[1] ('facts').weight: 'heavy' is not a number" in err
