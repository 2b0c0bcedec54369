"""Shared fixtures: a tiny stand-in tokenizer (built in seconds, saved to a folder so it can
be passed by path like a real one) and helpers to write small mixtures in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mist_pl.models.tokenizer import build_chem_tokenizer

TRAINING_LINES = [
    "Ethanol is written [START_SMILES]CCO[END_SMILES] and benzene [START_SMILES]c1ccccc1[END_SMILES].",
    "Acetic acid CC(=O)O reacts with ethanol to give ethyl acetate CC(=O)OCC and water.",
    "The crystal has space group Fm-3m and lattice parameter a = 5.64 angstrom.",
    "Chemistry is the study of matter and the changes it undergoes.",
] * 4


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tokenizer")
    build_chem_tokenizer(TRAINING_LINES, vocab_size=320).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from mist_pl.data.tokenization import resolve_tokenizer

    return resolve_tokenizer(tokenizer_dir)


def write_text_source(path: Path, n: int, prefix: str, words: int = 6) -> Path:
    """A jsonl file of ``n`` short documents whose length varies with the index."""
    with open(path, "w") as handle:
        for i in range(n):
            body = " ".join(f"{prefix}{(i * 7 + j) % 13}" for j in range(words + i % 9))
            handle.write(json.dumps({"text": f"{prefix} document {i}: {body}."}) + "\n")
    return path


@pytest.fixture
def text_mixture(tmp_path, tokenizer_dir) -> dict:
    """An inline three-source mixture of plain text (no chemistry), weights 0.5 / 0.3 / 0.2."""
    sources = []
    for name, n, weight in [("alpha", 60, 0.5), ("beta", 40, 0.3), ("gamma", 25, 0.2)]:
        path = write_text_source(tmp_path / f"{name}.jsonl", n, name)
        sources.append({"name": name, "format": "jsonl", "path": str(path), "weight": weight})
    return {"name": "text_mix", "seed": 7, "tokenizer": tokenizer_dir, "sources": sources}
