"""Where an export may write: ``--out`` is a new or empty folder, or a previous export,
which is replaced whole. A non-empty folder of anything else was written into (its
``config.json`` overwritten, its other files left beside the model) and is now refused
unless ``--overwrite``; an ``--out`` that is a file failed with a JSON error."""

from __future__ import annotations

import json

import pytest
from ckpt_helpers import checkpoint_of

from mist_pl.export import main as export_main


@pytest.fixture
def ckpt(tiny_model, tmp_path):
    return checkpoint_of(tiny_model, tmp_path / "last.ckpt")


def run_export(*args: str) -> None:
    export_main([str(arg) for arg in args])


def test_a_foreign_folder_is_refused_unless_overwrite(ckpt, tmp_path):
    out = tmp_path / "app"
    out.mkdir()
    (out / "config.json").write_text('{"port": 80}')
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        run_export("--ckpt", ckpt, "--out", out)
    assert stop.value.code == (f"error: {out}: not empty and not a previous export (it holds config.json, notes.txt); "
                               "nothing was written. Pass --overwrite to replace the folder and everything in it, "
                               "or choose another --out")
    assert (out / "config.json").read_text() == '{"port": 80}' and (out / "notes.txt").read_text() == "mine"

    run_export("--ckpt", ckpt, "--out", out, "--overwrite")
    assert not (out / "notes.txt").exists()  # replaced, not written into
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2"


def test_a_previous_export_is_replaced_and_one_with_foreign_files_is_not(ckpt, tmp_path):
    out = tmp_path / "hf"
    run_export("--ckpt", ckpt, "--out", out)
    first = sorted(p.name for p in out.iterdir())
    run_export("--ckpt", ckpt, "--out", out)  # a rerun needs no --overwrite
    assert sorted(p.name for p in out.iterdir()) == first

    (out / "README.md").write_text("evaluation notes")
    with pytest.raises(SystemExit, match=r"not a previous export \(it holds .*README.md"):
        run_export("--ckpt", ckpt, "--out", out)
    assert (out / "README.md").read_text() == "evaluation notes"


def test_an_out_that_is_a_file_is_named(ckpt, tmp_path):
    out = tmp_path / "model.bin"
    out.write_bytes(b"weights")
    for overwrite in ([], ["--overwrite"]):
        with pytest.raises(SystemExit) as stop:
            run_export("--ckpt", ckpt, "--out", out, *overwrite)
        assert stop.value.code == f"error: --out {out} is a file; give a folder"
        assert out.read_bytes() == b"weights"


def test_overwrite_never_replaces_the_folder_of_the_checkpoint(ckpt, tmp_path):
    (tmp_path / "events.log").write_text("training log")
    with pytest.raises(SystemExit, match=f"{tmp_path} holds the checkpoint {ckpt}"):
        run_export("--ckpt", ckpt, "--out", tmp_path, "--overwrite")
    assert ckpt.is_file() and (tmp_path / "events.log").is_file()
