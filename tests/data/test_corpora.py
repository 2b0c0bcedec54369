"""Built-in corpora read real shipped files; the default tiny mix validates offline."""

from __future__ import annotations

from itertools import islice

import pytest

from mist_pl.data.config import load_mixture
from mist_pl.data.corpora import CORPORA, corpus_unavailable_reason, read_corpus
from mist_pl.data.readers import Record

TINY_MIX = "conf/data/chem_mix_tiny.yaml"  # resolved to the shipped config from any directory


def first_records(name: str, n: int = 3, **options) -> list[Record]:
    return [item for item in islice(read_corpus(name, options), n) if isinstance(item, Record)]


@pytest.mark.parametrize("name", ["rdkit_nci", "rdkit_wehi", "chembl_freewilson"])
def test_rdkit_molecule_files(name):
    assert corpus_unavailable_reason(CORPORA[name]) is None
    records = first_records(name)
    assert len(records) == 3
    assert all(r.fields["smiles"] and r.fields["id"] for r in records)
    assert records[0].origin.line == 1 and "rdkit" in records[0].origin.path.lower()


def test_rdkit_corpora_are_not_tiny():
    counts = {name: sum(isinstance(i, Record) for i in read_corpus(name)) for name in ("rdkit_nci", "rdkit_wehi")}
    assert counts["rdkit_nci"] > 4000 and counts["rdkit_wehi"] > 9000


def test_demo_corpora():
    names = first_records("pubchem_names", 200)
    assert len(names) == 100 and all(r.fields["IUPAC"] and r.fields["SMILES"] for r in names)
    reactions = [i for i in read_corpus("demo_reactions") if isinstance(i, Record)]
    labels = [r.fields["label"] for r in reactions]
    assert labels.count("true") == 50 + 26 and labels.count("false") == 24
    assert all(r.fields["reaction"].count(">") == 2 for r in reactions)


def test_general_text_blocks():
    blocks = [i for i in read_corpus("general_text") if isinstance(i, Record)]
    assert len(blocks) >= 3 and all(len(b.fields["text"]) > 50 for b in blocks)


def test_moses_is_read_from_the_molsets_package_or_reported_missing():
    reason = corpus_unavailable_reason(CORPORA["moses"])
    if reason is not None:
        assert "molsets" in reason
        return
    records = first_records("moses", 3, split="test")
    assert len(records) == 3 and all(r.fields["SMILES"] for r in records)


def test_tiny_mix_validates_offline():
    cfg = load_mixture(TINY_MIX)
    names = [s.name for s in cfg.sources]
    assert {"nci_molecules", "pubchem_names", "reactions", "crystals", "general_text"} <= set(names)
    assert all(s.transform.get("kind") for s in cfg.sources)
    assert cfg.tokenizer == "mist-chem"


def test_every_tiny_mix_source_yields_documents():
    from mist_pl.data.corpora import read_source
    from mist_pl.data.documents import documents
    from mist_pl.data.stats import SourceStats

    cfg = load_mixture(TINY_MIX)
    for spec in cfg.sources:
        stats = SourceStats()
        items = islice(enumerate(read_source(spec)), 20)
        texts = [text for text, _ in documents(spec, cfg.seed, items, stats)]
        assert texts, f"{spec.name}: {stats.summary()}"
        assert all(isinstance(t, str) and t.strip() for t in texts)


def test_chemistry_transforms_count_bad_records():
    from mist_pl.data.transforms import apply_transform, build_transform

    molecule = build_transform({"kind": "molecule", "column": "smiles", "randomize": 1.0})
    text, reason, _ = apply_transform(molecule, {"smiles": "CCO"}, seed=1)
    assert text and reason is None
    assert apply_transform(molecule, {"smiles": "C1CC(("}, seed=1)[:2] == (None, "invalid_smiles")
    assert apply_transform(molecule, {"other": "CCO"}, seed=1)[:2] == (None, "missing_field:smiles")
    # Same seed, same document: augmentation is reproducible.
    assert apply_transform(molecule, {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}, seed=5) == apply_transform(
        molecule, {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}, seed=5
    )
    crystal = build_transform({"kind": "crystal", "column": "cif"})
    assert apply_transform(crystal, {"cif": "data_broken\n_cell_length_a nonsense\n"}, seed=0)[1] == "invalid_cif"
    reaction = build_transform({"kind": "reaction", "column": "reaction", "where": {"label": "true"}})
    assert apply_transform(reaction, {"reaction": "CCO>>CC=O", "label": "false"}, seed=0)[1] == "filtered"
    assert apply_transform(reaction, {"reaction": "CCO", "label": "true"}, seed=0)[1] == "invalid_reaction"
