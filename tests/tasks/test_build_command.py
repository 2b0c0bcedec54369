"""The build command: fixtures end to end, a synthetic raw folder, bad input."""

import json

import pytest
from build_testkit import write_raw_dir

from mist_pl.tasks import get_task
from mist_pl.tasks.answer import parse_completion
from mist_pl.tasks.build import build_task, has_source, main, task_names
from mist_pl.tasks.sources.raw_examples import RawOptions
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
    if task.sft_trace is None:  # no trace builder: no SFT files
        assert "sft" not in summary and not list(out.glob("sft_*.jsonl"))
        return summary
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
    "crystal_relax": ("structure", "formula"),
}


def test_fixture_build_of_every_task(tmp_path, demo, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the fixtures come from the package, whatever the working directory
    assert main(["--task", "all", "--out", str(tmp_path), "--limit", "20"]) == 0
    printed = capsys.readouterr().out
    origins = [row["origin"] for row in _rows(tmp_path / "rxn_mcq" / "train.jsonl")]
    assert origins and all(origin.startswith(str(demo)) for origin in origins)
    assert set(task_names()) == set(COLUMNS)  # the build's task list is the registry, crystal_relax included
    for name in task_names():
        summary = _check_outputs(tmp_path / name, name, COLUMNS[name])
        assert sum(summary["kept"].values()) > 0 and f"{name} (fixtures)" in printed
        if get_task(name).sft_trace is None:
            assert f"{name}: no SFT trace builder" in printed
            continue
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
    assert rows and {(r["oxidation_states"], r["mixed_valence"]) for r in rows} == {("icsd24_ranked", False)}
    assert all(is_charge_balanced(r["answer"]) for r in rows)
    assert main([*args, "--out", str(tmp_path / "mixed"), "--oxidation-states", "icsd24_low", "--mixed-valence"]) == 0
    mixed = _rows(tmp_path / "mixed" / "train.jsonl")
    assert {(r["oxidation_states"], r["mixed_valence"]) for r in mixed} == {("icsd24_low", True)}
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "bad"), "--oxidation-states", "icsd99"])


def test_a_task_without_a_raw_source_is_skipped_by_all_and_refused_by_name(tmp_path, capsys):
    assert [name for name in task_names() if not has_source(get_task(name), "raw")] == ["crystal_relax"]
    assert main(["--task", "crystal_relax", "--source", "raw", "--out", str(tmp_path / "cr")]) == 2
    assert "no raw source for task 'crystal_relax'" in capsys.readouterr().err


def test_a_new_task_is_built_from_its_task_alone(tmp_path, monkeypatch):
    """Everything the build needs is a field of the Task: no table names the task."""
    from dataclasses import replace

    from mist_pl.tasks import registry

    def source(options, tally):
        tally.drop("too short", "toy:0")
        return [{"word": w, "answer": w.upper(), "origin": f"toy:{i}"} for i, w in enumerate(["ab", "cd", "ab", "ef"])]

    toy = registry.Task(
        "toy_upper", build_prompt=lambda e: f"Upper-case {e['word']}", rewards=(), top1=lambda c, e: False,
        split_key=lambda e: e["word"], dedupe_key=lambda e: e["word"],
        sft_trace=lambda e: f"<think>Upper case.</think><answer>{e['answer']}</answer>",
        label_column="answer", fixture_examples=source,
    )
    monkeypatch.setitem(registry._TASKS, toy.name, toy)
    options = RawOptions(fractions=(1.0, 0.0, 0.0))
    summary = build_task(toy.name, tmp_path / "toy", "fixtures", options, log=lambda text: None)
    assert summary["kept"] == {"train": 3, "validation": 0, "test": 0}
    assert summary["dropped"] == {"too short": 1, "duplicate": 1}
    assert summary["labels"]["train"] == {"AB": 1, "CD": 1, "EF": 1}
    assert len(_rows(tmp_path / "toy" / "sft_train.jsonl")) == 3
    monkeypatch.setitem(registry._TASKS, toy.name, replace(toy, fixture_examples=None))
    with pytest.raises(ValueError, match="no fixture source for task 'toy_upper'"):
        build_task(toy.name, tmp_path / "none", "fixtures", options, log=lambda text: None)


def test_no_material_test_request_occurs_in_training_or_sft(tmp_path):
    """Material requests are split by chemical system with each crystal's substitutions in
    its split: no test element set is a training or validation request, none appears in
    an SFT prompt, and no test request is a substitution of a training crystal (the review
    found 7 of 50 test sets in the RL prompts and 47 of 50 one-element substitutions of a
    training structure under the split by reduced formula)."""
    assert main(["--task", "cond_mat_gen", "--source", "raw", "--out", str(tmp_path)]) == 0
    splits = {name: _rows(tmp_path / f"{name}.jsonl") for name in ("train", "validation", "test")}
    systems = {name: {tuple(sorted(r["elements"])) for r in rows} for name, rows in splits.items()}
    assert len(splits["test"]) >= 40 and systems["test"].isdisjoint(systems["train"] | systems["validation"])
    sft = [r["prompt"] for name in ("sft_train", "sft_validation") for r in _rows(tmp_path / f"{name}.jsonl")]
    listed = {p.split("Given the following elements: ", 1)[1].split(".", 1)[0] for p in sft}
    assert not {", ".join(s) for s in systems["test"]} & listed
    parents = {name: {r["split_group"] for r in rows} for name, rows in splits.items()}
    assert parents["test"].isdisjoint(parents["train"] | parents["validation"])
