"""SCS on the tiny model: counts, skips, outputs, reproducibility."""

import csv
import json

from mist_pl.diagnostics.molecules import default_smiles_file, read_smiles
from mist_pl.diagnostics.report import log_scalars
from mist_pl.diagnostics.scoring import OK, TOO_LONG
from mist_pl.diagnostics.scs import INVALID_SMILES, NOTHING_TO_CORRUPT, run_scs

LONG = "OC(=O)C1=C(C=CC=C1)C2=C3C=CC(=O)C(=C3OC4=C2C=CC(=C4Br)O)Br"


class Sink:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, key, value, global_step=0):
        self.scalars[key] = (value, global_step)


def test_statuses_and_counts(tiny_model, tokenizer):
    smiles = ["c1ccccc1O", "CCO", "C(C)C", "not a smiles", "CC1=CC(=O)C=CC1=O", LONG]
    result = run_scs(tiny_model, tokenizer, smiles, max_length=20)
    statuses = [row["status"] for row in result.rows]
    assert statuses == [OK, NOTHING_TO_CORRUPT, NOTHING_TO_CORRUPT, INVALID_SMILES, OK, TOO_LONG]
    counts = result.summary["counts"]
    assert counts == {"read": 6, "scored": 2, NOTHING_TO_CORRUPT: 2, INVALID_SMILES: 1, TOO_LONG: 1}
    assert result.summary["metrics"]["n_pairs"] == 2
    ok = result.rows[0]
    assert ok["canonical"] == "Oc1ccccc1" and ok["n_deleted"] == 1 and ok["lp_true"] < 0
    assert result.rows[-1]["lp_true"] is None


def test_empty_data_set(tiny_model, tokenizer, tmp_path):
    result = run_scs(tiny_model, tokenizer, [])
    assert result.summary["counts"] == {"read": 0, "scored": 0}
    assert result.summary["metrics"]["cohens_d"] is None
    items, summary = result.save(tmp_path)
    assert items.read_text().strip() == "status"
    assert json.loads(summary.read_text())["metrics"]["n_pairs"] == 0
    sink = Sink()
    log_scalars(sink, result.scalars())
    assert "diagnostics/scs/cohens_d" not in sink.scalars  # undefined values are not logged


def test_outputs_and_scalars(tiny_model, tokenizer, tmp_path):
    result = run_scs(tiny_model, tokenizer, read_smiles(limit=12), seed=1)
    items, summary = result.save(tmp_path)
    with items.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {"canonical", "corrupted", "lp_true", "lp_corrupt", "status"} <= set(rows[0])
    saved = json.loads(summary.read_text())
    assert saved["definition"]["seed"] == 1 and "pooled" in saved["definition"]["cohens_d"]
    sink = Sink()
    log_scalars(sink, result.scalars(), step=5)
    for key in ("cohens_d", "superiority", "rank_biserial", "scored"):
        assert sink.scalars[f"diagnostics/scs/{key}"][1] == 5


def test_tensorboard_writer(tiny_model, tokenizer, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    log_scalars(writer, run_scs(tiny_model, tokenizer, read_smiles(limit=4)).scalars())
    writer.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_reproducible_by_seed(tiny_model, tokenizer):
    smiles = read_smiles(limit=10)
    a = run_scs(tiny_model, tokenizer, smiles, seed=3)
    b = run_scs(tiny_model, tokenizer, smiles, seed=3, batch_size=3)
    c = run_scs(tiny_model, tokenizer, smiles, seed=4)
    assert [r["corrupted"] for r in a.rows] == [r["corrupted"] for r in b.rows]
    assert [r["corrupted"] for r in a.rows] != [r["corrupted"] for r in c.rows]
    assert abs(a.summary["metrics"]["cohens_d"] - b.summary["metrics"]["cohens_d"]) < 1e-6


def test_default_molecules_are_rdkits():
    assert default_smiles_file().is_file()
    assert len(read_smiles(limit=5)) == 5


def test_smiles_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("name,SMILES\nethanol,CCO\nblank,\nbenzene,c1ccccc1\n")
    assert read_smiles(path) == ["CCO", "c1ccccc1"]
