"""The build command: fixtures end to end, a synthetic raw folder, bad input."""

import json

import pytest
from build_testkit import write_raw_dir

from mist_pl.tasks import get_task
from mist_pl.tasks.answer import parse_completion
from mist_pl.tasks.build import TASK_NAMES, main
from mist_pl.tasks.splits import SPLITS


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_outputs(out, task_name, columns):
    summary = json.loads((out / "summary.json").read_text())
    task = get_task(task_name)
    keys = {}
    for split in SPLITS:
        rows = _rows(out / f"{split}.jsonl")
        assert summary["kept"][split] == len(rows)
        for row in rows:
            assert row["task"] == task_name and row["prompt"] == task.build_prompt(row)
            assert {"answer", "origin", "split_key", *columns} <= set(row)
            assert keys.setdefault(row["split_key"], split) == split  # no key crosses splits
    for split in ("train", "validation"):
        pairs = _rows(out / f"sft_{split}.jsonl")
        assert summary["sft"][split]["kept"] == len(pairs)
        assert all(parse_completion(p["completion"]).well_formed for p in pairs)
    assert not (out / "sft_test.jsonl").exists()
    return summary


COLUMNS = {
    "rxn_naming": ("reaction",),
    "rxn_prediction": ("reactants",),
    "rxn_mcq": ("options",),
    "rxn_true_false": ("reaction",),
    "iupac_to_smiles": ("name",),
    "canonicalization": ("smiles",),
    "cond_mat_gen": ("elements", "space_group"),
}


def test_fixture_build_of_every_task(tmp_path, demo, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the fixtures come from the package, whatever the working directory
    assert main(["--task", "all", "--out", str(tmp_path), "--limit", "20"]) == 0
    printed = capsys.readouterr().out
    origins = [row["origin"] for row in _rows(tmp_path / "rxn_mcq" / "train.jsonl")]
    assert origins and all(origin.startswith(str(demo)) for origin in origins)
    for name in TASK_NAMES:
        summary = _check_outputs(tmp_path / name, name, COLUMNS[name])
        assert sum(summary["kept"].values()) > 0 and f"{name} (fixtures)" in printed
        # every SFT completion is right by the task's metric for its example
        rows = {row["prompt"]: row for split in ("train", "validation") for row in _rows(tmp_path / name / f"{split}.jsonl")}
        for pair in _rows(tmp_path / name / "sft_train.jsonl"):
            assert get_task(name).top1(pair["completion"], rows[pair["prompt"]])
    naming = json.loads((tmp_path / "rxn_naming" / "summary.json").read_text())
    assert sum(sum(v.values()) for v in naming["labels"].values()) == sum(naming["kept"].values())
    assert json.loads((tmp_path / "cond_mat_gen" / "summary.json").read_text())["dropped"]["duplicate"] > 0


def test_raw_build_from_synthetic_files(tmp_path, capsys):
    raw = write_raw_dir(tmp_path / "raw")
    out = tmp_path / "out"
    args = ["--source", "raw", "--raw-dir", str(raw), "--fractions", "1", "0", "0"]
    assert main(["--task", "rxn_naming", "--out", str(out / "naming"), *args]) == 0
    summary = _check_outputs(out / "naming", "rxn_naming", ("reaction", "mapped_reaction"))
    assert summary["kept"]["train"] == 8  # six Schneider reactions + rxn-insight's heterocycle and oxidation
    assert summary["labels"]["train"]["Miscellaneous"] == 2 and "Aromatic Heterocycle Formation" in summary["labels"]["train"]
    assert summary["dropped"]["invalid or unmapped atom-mapped reaction"] == 1
    assert summary["dropped"]["row lacks a required field"] == 1
    assert summary["raw_manifest"] is None  # no MANIFEST.json in a hand-made folder
    assert main(["--task", "rxn_naming", "--out", str(out / "no_ox"), "--oxidation", "oxidation", *args]) == 0
    no_ox = json.loads((out / "no_ox" / "summary.json").read_text())
    assert no_ox["dropped"]["class outside the ten (Oxidation)"] == 2 and no_ox["kept"]["train"] == 6
    assert main(["--task", "rxn_true_false", "--out", str(out / "tf"), *args]) == 0
    tf = _check_outputs(out / "tf", "rxn_true_false", ("reaction",))
    assert tf["labels"]["train"]["true"] == tf["labels"]["train"]["false"]
    assert main(["--task", "rxn_mcq", "--out", str(out / "mcq"), "--reaction-sources", "orderly", *args]) == 0
    assert json.loads((out / "mcq" / "summary.json").read_text())["kept"]["train"] == 2
    assert main(["--task", "canonicalization", "--out", str(out / "canon"), "--limit", "5", *args]) == 0
    _check_outputs(out / "canon", "canonicalization", ("smiles",))


def test_a_missing_input_fails_naming_the_file(tmp_path, capsys):
    assert main(["--task", "rxn_naming", "--source", "raw", "--raw-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "schneider50k.tsv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--task", "rxn_naming", "--out", str(tmp_path), "--fractions", "0.5", "0.5", "0.5"])


def test_demo_dir_reads_another_copy_and_a_missing_one_is_named(tmp_path, demo, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo / "reactions", copy / "reactions")
    assert main(["--task", "rxn_true_false", "--out", str(tmp_path / "tf"), "--demo-dir", str(copy), "--no-sft"]) == 0
    assert all(row["origin"].startswith(str(copy)) for row in _rows(tmp_path / "tf" / "train.jsonl"))
    assert main(["--task", "rxn_true_false", "--out", str(tmp_path / "x"), "--demo-dir", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_material_requests_carry_the_charge_rule_they_were_chosen_by(tmp_path):
    from mist_pl.chem.charge_balance import is_charge_balanced

    args = ["--task", "cond_mat_gen", "--source", "raw", "--limit", "12", "--substitutions", "1", "--no-sft",
            "--fractions", "1", "0", "0"]
    assert main([*args, "--out", str(tmp_path / "strict")]) == 0
    rows = _rows(tmp_path / "strict" / "train.jsonl")
    assert rows and {(r["oxidation_states"], r["mixed_valence"]) for r in rows} == {("icsd24_medium", False)}
    assert all(is_charge_balanced(r["answer"]) for r in rows)
    assert main([*args, "--out", str(tmp_path / "mixed"), "--oxidation-states", "icsd24_low", "--mixed-valence"]) == 0
    mixed = _rows(tmp_path / "mixed" / "train.jsonl")
    assert {(r["oxidation_states"], r["mixed_valence"]) for r in mixed} == {("icsd24_low", True)}
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "bad"), "--oxidation-states", "icsd99"])
