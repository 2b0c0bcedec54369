"""A damaged ``manifest.json`` (cut short, emptied, not an object) is named, never a bare
``JSONDecodeError``: a ``prepare`` rerun says so and rebuilds every shard (it cannot trust
any checksum), and training refuses the folder with the command that rebuilds it."""

from __future__ import annotations

import json

import pytest
from test_prepare import count_builds, mix_file, shard_bytes  # noqa: F401 (fixtures)

from mist_pl.data.config import load_mixture
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.data.prepare import prepare


def cut_short(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path) -> None:
    path.write_bytes(b"")


def a_list(path) -> None:
    path.write_text("[]\n")


@pytest.mark.parametrize("damage", [cut_short, empty, a_list])
def test_prepare_rerun_names_the_manifest_and_rebuilds(mix_file, tmp_path, count_builds, damage, caplog):  # noqa: F811
    cfg = load_mixture(mix_file)
    first_manifest = prepare(cfg, workers=0, progress=False)
    out = tmp_path / "out"
    first = shard_bytes(out)
    damage(out / "manifest.json")
    count_builds.clear()
    assert prepare(cfg, workers=0, progress=False) == first_manifest
    assert sorted(count_builds) == sorted(first)  # every shard again: no checksum could be trusted
    assert shard_bytes(out) == first
    assert json.loads((out / "manifest.json").read_text()) == first_manifest
    warnings = [r.getMessage() for r in caplog.records if "rebuilding every shard" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"{out / 'manifest.json'}: ")


@pytest.mark.parametrize("damage", [cut_short, empty, a_list])
def test_training_refuses_the_folder_naming_the_manifest_and_the_fix(mix_file, tmp_path, damage):  # noqa: F811
    prepare(load_mixture(mix_file), workers=0, progress=False)
    out = tmp_path / "out"
    damage(out / "manifest.json")
    dm = MixtureDataModule(str(mix_file), prepared_dir=str(out), seq_len=32, batch_size=2)
    with pytest.raises(DataConfigError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert message.startswith(f"{out / 'manifest.json'}: ")
    assert f"rebuild the shards with python -m mist_pl.data.prepare --config {mix_file} --output-dir {out}" in message
