"""OPSIN name -> SMILES. The JVM runs in a child interpreter so it never lives in the pytest process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mist_pl.chem.names import annotate_names, interleave
from mist_pl.chem.opsin import clean_name, opsin_available
from mist_pl.chem.tags import SMILES_END, SMILES_START

OPSIN_MISSING = opsin_available()


def run_isolated(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(OPSIN_MISSING is not None, reason=f"OPSIN unavailable: {OPSIN_MISSING}")
def test_names_to_smiles_in_process_and_after_fork():
    code = """
import json, multiprocessing as mp
from mist_pl.chem.names import names_to_smiles, name_to_smiles
names = ["ethanol", "benzene", "2-acetyloxybenzoic acid", "not a chemical", None, "propan-2-ol", "ethanol"]
in_process = names_to_smiles(names)
def child(queue):
    queue.put(name_to_smiles("acetic acid"))  # JVM inherited through fork: must use the subprocess
ctx = mp.get_context("fork")
queue = ctx.Queue()
proc = ctx.Process(target=child, args=(queue,))
proc.start(); forked = queue.get(timeout=60); proc.join(30)
print(json.dumps({"in_process": in_process, "forked": forked}))
"""
    result = run_isolated(code)
    assert result["in_process"] == ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", None, None, "CC(C)O", "CCO"]
    assert result["forked"] == "CC(=O)O"


@pytest.mark.skipif(OPSIN_MISSING is not None, reason=f"OPSIN unavailable: {OPSIN_MISSING}")
def test_subprocess_backend_matches(pubchem_rows):
    from mist_pl.chem.names import names_to_smiles
    from mist_pl.chem.smiles import canonicalize

    rows = pubchem_rows[:25]
    parsed = names_to_smiles([row["IUPAC"] for row in rows] + ["blorb"], backend="subprocess")
    assert parsed[-1] is None
    agree = sum(p == canonicalize(row["SMILES"]) for p, row in zip(parsed, rows))
    assert agree >= 0.8 * len(rows)  # OPSIN parses nearly all PubChem IUPAC names exactly


def test_clean_name_refuses_multiline_and_huge():
    assert clean_name("  ethanol ") == "ethanol"
    assert clean_name("a\nb") is None
    assert clean_name("x" * 5000) is None
    assert clean_name(3) is None


def test_interleave():
    assert interleave("ethanol", "OCC") == f"ethanol {SMILES_START}CCO{SMILES_END}"
    assert interleave("ethanol", "OCC", canonical=False) == f"ethanol {SMILES_START}OCC{SMILES_END}"
    assert interleave("ethanol", "C1CC") is None
    assert interleave("", "CCO") is None


def test_annotate_names():
    text = "Ethanol and acetic acid give ethyl acetate; ethanol is recycled. [START_SMILES]CCO[END_SMILES] ethanol"
    out = annotate_names(text, {"ethanol": "OCC", "acetic acid": "CC(=O)O", "ethyl acetate": "CCOC(C)=O", "bad": "C1C"})
    assert out.startswith(f"Ethanol {SMILES_START}CCO{SMILES_END} and acetic acid {SMILES_START}CC(=O)O{SMILES_END}")
    assert f"ethyl acetate {SMILES_START}CCOC(C)=O{SMILES_END}" in out
    assert out.count(SMILES_START) == 4  # three names once each + the existing tag
    assert annotate_names(out, {"ethanol": "OCC", "acetic acid": "CC(=O)O"}) == out  # idempotent
    assert annotate_names(text, {"ethanol": "CCO"}, first_only=False).count(SMILES_START) == 4
    again = annotate_names(f"ethanol {SMILES_START}CCO{SMILES_END}", {"ethanol": "CCO"})
    assert again.count(SMILES_START) == 1
