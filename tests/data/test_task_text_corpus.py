"""The ``task_text`` corpus: prose about a task's training examples for CPT (MiST's
synthetic reaction corpus), read through the ordinary mixture path."""

import json

import pytest

from mist_pl.data.config import SourceSpec, load_mixture
from mist_pl.data.corpora import read_source
from mist_pl.data.documents import documents
from mist_pl.data.stats import SourceStats
from mist_pl.tasks.rxn_naming import REACTION_CLASSES

REACTIONS = [  # (reaction, atom-mapped form or None, class)
    ("CC(=O)Cl.NCC>>CC(=O)NCC", "[CH3:1][C:2](=[O:3])Cl.[NH2:4][CH2:5][CH3:6]>>[CH3:1][C:2](=[O:3])[NH:4][CH2:5][CH3:6]",
     "Acylation"),
    ("O=[N+]([O-])c1ccccc1>>Nc1ccccc1", None, "Reduction"),
    ("CC(C)(C)OC(=O)NCc1ccccc1>>NCc1ccccc1", None, "Deprotection"),
]


def _texts(path, task, seed=0):
    cfg = load_mixture({"name": "m", "sources": [{"name": "t", "corpus": "task_text", "weight": 1.0,
                                                  "options": {"task": task, "path": str(path), "seed": seed}}]})
    spec, stats = cfg.sources[0], SourceStats()
    return [d for d, _ in documents(spec, 0, enumerate(read_source(spec)), stats)], stats


def test_each_training_reaction_is_written_with_its_class_and_what_changes(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"reaction": r, "mapped_reaction": m, "answer": c}) + "\n"
                            for r, m, c in REACTIONS))
    texts, stats = _texts(path, "rxn_naming")
    per_reaction = [t for t in texts if not t.startswith("Reaction class ")]
    overviews = [t for t in texts if t.startswith("Reaction class ")]
    assert len(per_reaction) == 3 and len(overviews) == 3 and stats.records == 6 and not stats.dropped
    for reaction, _, cls in REACTIONS:
        (text,) = [t for t in per_reaction if reaction in t]  # the reaction as the task's prompt shows it
        assert cls in text and "bonds formed" in text.lower() and "functional groups formed" in text.lower()
    acylation = next(t for t in per_reaction if "Acylation" in t)
    assert "C-N" in acylation and "acyl halide" in acylation  # computed from the atom map and the group table
    assert sorted(t.split(".")[0].removeprefix("Reaction class ") for t in overviews) == ["Acylation", "Deprotection", "Reduction"]
    assert all(t.split(".")[0].removeprefix("Reaction class ") in REACTION_CLASSES for t in overviews)
    assert _texts(path, "rxn_naming")[0] == texts  # the same seed, the same corpus
    other = _texts(path, "rxn_naming", seed=5)[0]
    assert sorted(other) != sorted(texts) and len(other) == len(texts)  # another seed, other sentence templates


def test_each_training_crystal_is_written_with_its_charges_and_cell(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"elements": ["Sr", "Ti", "O"], "answer": "SrTiO3", "space_group": 221},
            {"elements": ["Cu", "Pd"], "answer": "CuPd", "space_group": 221}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts, _ = _texts(path, "cond_mat_gen")
    perovskite = next(t for t in texts if "Sr" in t)
    assert "O3SrTi" in perovskite and "221" in perovskite
    assert "Sr +2" in perovskite and "Ti +4" in perovskite and "O -2" in perovskite
    assert perovskite.endswith("O O O Sr Ti <sg221>")
    assert "alloy" in next(t for t in texts if "CuPd" in t)
    from mist_pl.tasks.cond_mat_gen import top1

    assert top1(f"<think>x</think><answer>{perovskite.rpartition('Its cell: ')[2]}</answer>", rows[0])


@pytest.mark.parametrize("options, message", [
    ({"task": "rxn_naming"}, "needs option 'path'"),
    ({"task": "rxn_mcq", "path": "x.jsonl"}, "writes no corpus"),
    ({"path": "x.jsonl"}, "needs option 'task'"),
    ({"task": "rxn_naming", "path": "x.jsonl", "seed": "one"}, "is not an integer"),
    ({"task": "rxn_naming", "path": "x.jsonl", "colour": 1}, "unknown option"),
])
def test_bad_options_name_the_corpus_and_the_option(options, message, tmp_path):
    (tmp_path / "x.jsonl").write_text("")
    options = {k: (str(tmp_path / v) if k == "path" else v) for k, v in options.items()}
    spec = SourceSpec(name="t", corpus="task_text", options=options)
    with pytest.raises(ValueError, match=message):
        list(read_source(spec))
