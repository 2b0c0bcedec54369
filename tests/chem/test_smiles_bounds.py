"""Pathological inputs must be refused or answered in bounded time.

The bounds are ten times what the code takes on a loaded 2-core machine: guards against a
blow-up (RDKit on these inputs takes minutes or never returns), not speed targets."""

from __future__ import annotations

import time

import pytest

from mist_pl.chem import reactions, smiles, spans


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def test_one_megabyte_string_is_rejected_fast():
    result, seconds = timed(smiles.canonicalize, "C" * 1_000_000)
    assert result is None and seconds < 2


def test_deep_parentheses_are_rejected_fast():
    deep = "C" + "(C" * 5000 + ")" * 5000
    result, seconds = timed(smiles.parse, deep)
    assert result is None and seconds < 2
    nested = "C" + "(C" * 150 + ")" * 150  # short enough in length, too deep in nesting
    assert smiles.parse(nested) is None
    assert "nested deeper" in smiles.precheck_problem(nested)


def cage_chain(repeats: int) -> str:
    return "C12C3C4C1C5C2C3C45" * repeats


@pytest.mark.parametrize(
    "text",
    [
        "C" * smiles.MAX_SMILES_LEN,  # longest chain: RDKit's writer is quadratic in chain length
        cage_chain(smiles.MAX_SMILES_LEN // 18),  # many ring closures
        "C[C@H](O)" * 200 + "C",  # many stereocentres
        "c1ccc2cc3ccccc3cc2c1" * 100,  # many aromatic systems
        ".".join(["C%10%11%12%13C%10C%11C%12C%13"] * 60),
        "C" + "(C" * 100 + ")" * 100,
    ],
)
def test_adversarial_smiles_at_the_length_limit_finish_quickly(text):
    assert len(text) <= smiles.MAX_SMILES_LEN + 1
    _, seconds = timed(smiles.canonicalize, text)
    assert seconds < 10
    _, seconds = timed(smiles.randomize, text, 3, 0)
    assert seconds < 20


def test_huge_reaction_is_rejected_fast():
    huge = "C" * 500_000 + ">>" + "C" * 500_000
    result, seconds = timed(reactions.canonicalize_reaction, huge)
    assert result is None and seconds < 2
    many = ".".join(["CCO"] * 500) + ">>CC"
    result, seconds = timed(reactions.canonicalize_reaction, many)
    assert result is None and seconds < 5


def test_span_tagging_of_a_megabyte_is_linear():
    text = ("word " * 200_000) + "C" * 1_000_000
    result, seconds = timed(spans.tag_smiles_spans, text)
    assert result.n_tagged == 0 and result.n_rejected == 1
    assert seconds < 10
