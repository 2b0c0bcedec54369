"""Examples for each task from the small mist-demo fixtures (``--source fixtures``).

Offline and quick, for the tiny demo. Each task's own loader reads its fixture files
(rows it skips are counted by reason). The demo has no reaction-class file, so
rxn_naming reads :data:`CLASS_SAMPLE`, a small real sample shipped with the package
(see :mod:`.class_sample` for how it was made).
"""

from __future__ import annotations

import csv
from pathlib import Path

from mist_pl.tasks import get_task
from mist_pl.tasks.data.layout import SAMPLES, require
from mist_pl.tasks.data.tally import Tally
from mist_pl.tasks.rxn_naming import answer_class

CLASS_SAMPLE = SAMPLES / "reaction_classes.csv"

FIXTURE_FILES: dict[str, tuple[str, ...]] = {
    "rxn_prediction": ("rxnpred_tiny/src-train.txt", "rxnpred_tiny/src-test.txt"),
    "rxn_mcq": ("reactions/rxn_inversion_sample.csv",),
    "rxn_true_false": ("reactions/rxn_truefalse_sample.csv",),
    "iupac_to_smiles": (
        "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
        "pubchem/CRLLM-PubChem-compounds1M-very_very_simple.sample.csv",
    ),
    "canonicalization": (
        "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
        "pubchem/CRLLM-PubChem-compounds1M_hydrogen.sample.csv",
    ),
    "cond_mat_gen": ("crystalrelax_tiny/tgt-train.txt", "crystalrelax_tiny/tgt-test.txt"),
}


def class_sample_examples(path: Path, tally: Tally, limit: int | None = None) -> list[dict]:
    """rxn_naming examples from a ``reaction,mapped_reaction,class,source`` CSV."""
    examples = []
    with require(path, "the shipped reaction-class sample").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            gold = answer_class(row.get("class") or "")
            if gold is None or ">" not in (row.get("reaction") or ""):
                tally.drop("unknown class or not a reaction", where)
                continue
            examples.append(
                {
                    "reaction": row["reaction"],
                    "mapped_reaction": row.get("mapped_reaction") or None,
                    "answer": gold,
                    "origin": row.get("origin") or where,  # the record in its original data set
                    "source": row.get("source") or "sample",
                }
            )
            if limit is not None and len(examples) >= limit:
                break
    return examples


def fixture_examples(task: str, demo_root: Path | None, tally: Tally, limit: int | None = None) -> list[dict]:
    """Examples for ``task`` from the fixtures (at most ``limit`` per file)."""
    if task == "rxn_naming":
        return class_sample_examples(CLASS_SAMPLE, tally, limit)
    if task not in FIXTURE_FILES:
        raise ValueError(f"no fixture source for task {task!r}")
    if demo_root is None:
        raise ValueError("the mist-demo folder is needed for fixtures")
    loader = get_task(task).load_examples
    examples: list[dict] = []
    for relative in FIXTURE_FILES[task]:
        loaded = loader(require(Path(demo_root) / relative, "a mist-demo fixture file"))
        tally.absorb(loaded.skipped)
        examples.extend({**e, "source": "mist-demo"} for e in loaded[:limit])
    return examples
