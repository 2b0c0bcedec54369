"""Shards are verified: each one's sha256 is in the manifest; a prepare rerun rebuilds a
shard whose bytes no longer match (it checked only that the file existed), and training
refuses one, naming the shard and the command that rebuilds it (a half-truncated shard
died with ``ArrowInvalid: Not an Arrow file`` naming no file; zeroed bytes were read as
token 0 without a word). Token ids outside the vocabulary fail with the shard's name."""

from __future__ import annotations

import json

import pytest
from test_prepare import count_builds, mix_file, shard_bytes  # noqa: F401 (fixtures)

from mist_pl.data.config import load_mixture
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.data.prepare import prepare
from mist_pl.data.shards import file_sha256, write_shard

SHARD = "docs/shard-00001.arrow"


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def zero_inside(path) -> None:
    """Zeros over the middle third of the file: same size, still an Arrow file."""
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = bytes(third)
    path.write_bytes(bytes(data))


def test_manifest_holds_each_shards_sha256(mix_file, tmp_path):  # noqa: F811
    manifest = prepare(load_mixture(mix_file), workers=0, progress=False)
    out = tmp_path / "out"
    for source, entry in manifest["sources"].items():
        for name, stats in entry["shards"].items():
            path = out / source / name
            assert stats["sha256"] == file_sha256(path) and stats["bytes"] == path.stat().st_size


@pytest.mark.parametrize("damage", [truncate, zero_inside])
def test_prepare_rerun_rebuilds_a_damaged_shard(mix_file, tmp_path, count_builds, damage, caplog):  # noqa: F811
    cfg = load_mixture(mix_file)
    prepare(cfg, workers=0, progress=False)
    out = tmp_path / "out"
    first = shard_bytes(out)
    damage(out / SHARD)
    count_builds.clear()
    prepare(cfg, workers=0, progress=False)
    assert count_builds == [SHARD]
    assert shard_bytes(out) == first
    assert any("shard-00001.arrow" in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", [truncate, zero_inside])
def test_training_refuses_a_damaged_shard_naming_it_and_the_fix(mix_file, tmp_path, damage):  # noqa: F811
    prepare(load_mixture(mix_file), workers=0, progress=False)
    out = tmp_path / "out"
    damage(out / SHARD)
    dm = MixtureDataModule(str(mix_file), prepared_dir=str(out), seq_len=32, batch_size=2)
    with pytest.raises(DataConfigError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert str(out / SHARD) in message and "the manifest recorded" in message
    assert f"python -m mist_pl.data.prepare --config {mix_file} --output-dir {out}" in message


def test_token_ids_outside_the_vocabulary_name_the_shard(mix_file, tmp_path, tokenizer):  # noqa: F811
    prepare(load_mixture(mix_file), workers=0, progress=False)
    out = tmp_path / "out"
    path = out / SHARD
    write_shard(path, [[5, 6, len(tokenizer) + 7]], ["docs.jsonl:1"])  # checksum updated below: bytes "intact"
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["sources"]["docs"]["shards"]["shard-00001.arrow"].update(sha256=file_sha256(path),
                                                                      bytes=path.stat().st_size)
    (out / "manifest.json").write_text(json.dumps(manifest))
    dm = MixtureDataModule(str(mix_file), prepared_dir=str(out), seq_len=32, batch_size=2)
    with pytest.raises(DataConfigError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert str(path) in message and f"token id {len(tokenizer) + 7}" in message
    assert f"vocabulary of {len(tokenizer)}" in message
