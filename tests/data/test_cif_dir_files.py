"""A ``cif_dir`` source reads the regular files inside its folder and nothing else: a FIFO
named ``*.cif`` made ``prepare`` wait forever for a writer, and a link to a file outside
the folder was read as a record. Both are now counted as malformed rows naming the file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mist_pl.data.readers import Malformed, Record, read_file

CIF = "data_x\n_cell_length_a 4.0\n"

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and symlinks as on POSIX")


def read(folder, **options):
    items = list(read_file(str(folder), "cif_dir", options))
    return ([i.fields["file"] for i in items if isinstance(i, Record)],
            [(i.reason, os.path.basename(i.origin.path)) for i in items if isinstance(i, Malformed)])


def test_a_fifo_is_not_read_and_does_not_block(tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "a.cif").write_text(CIF)
    os.mkfifo(folder / "pipe.cif")
    # In a child process: before the fix the read never returns.
    code = f"from mist_pl.data.readers import read_file; print(len(list(read_file({str(folder)!r}, 'cif_dir'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "2"
    records, bad = read(folder)
    assert records == ["a.cif"]
    assert bad == [("malformed_row:not_a_regular_file", "pipe.cif")]


def test_links_may_point_inside_the_folder_only(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.cif").write_text("data_secret\n")
    folder = tmp_path / "cifs"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.cif").write_text(CIF)
    (folder / "a.cif").write_text(CIF)
    (folder / "escape.cif").symlink_to(elsewhere / "secret.cif")
    (folder / "alias.cif").symlink_to(folder / "sub" / "b.cif")
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    records, bad = read(folder)
    assert records == ["a.cif", "alias.cif"]
    assert bad == [("malformed_row:outside_folder", "escape.cif")]
    records, bad = read(folder, pattern="*/*.cif")  # through a linked folder
    assert records == ["b.cif"]
    assert bad == [("malformed_row:outside_folder", "secret.cif")]


def test_a_folder_named_cif_is_not_a_record(tmp_path):
    folder = tmp_path / "cifs"
    (folder / "odd.cif").mkdir(parents=True)
    (folder / "a.cif").write_text(CIF)
    assert read(folder) == (["a.cif"], [("malformed_row:not_a_regular_file", "odd.cif")])
