"""A build that keeps no example fails: a header-only file, or one whose every row is
dropped, exited 0 with empty split files. It now exits 2 naming the file and why its rows
were dropped, and writes no split file."""

from __future__ import annotations

from mist_pl.tasks.build import main


def build(tmp_path, text: str):
    path = tmp_path / "reactions.csv"
    path.write_text(text)
    out = tmp_path / "out"
    code = main(["--task", "rxn_naming", "--source", "file", "--input", str(path), "--out", str(out)])
    return code, path, out


def test_a_header_only_file_fails_naming_it(tmp_path, capsys):
    code, path, out = build(tmp_path, "reaction,class\n")
    assert code == 2
    error = capsys.readouterr().err
    assert f"build failed: rxn_naming: no examples from {path}" in error and "no rows" in error
    assert not (out / "train.jsonl").exists()


def test_a_file_of_invalid_rows_fails_with_the_drop_reasons(tmp_path, capsys):
    code, path, out = build(tmp_path, "reaction,class\nnot a reaction,Acylation\nCCO>>CC=O,\nC1CC>>CC,Reduction\n")
    assert code == 2
    error = capsys.readouterr().err
    assert f"build failed: rxn_naming: no examples from {path}: 3 rows dropped" in error
    assert f"(first: {path}:2)" in error  # each reason with its count and the first row it dropped
    assert not (out / "train.jsonl").exists()
