"""Tag handling is linear in the text: an unclosed ``[START_SMILES]`` made the non-greedy
block pattern rescan to the end of the text from every later opening tag (112 KB took
3.9 s, about 5 minutes per MB through ``tag_smiles: true``), and trimming a long token of
parentheses rescanned it once per character removed. Blocks are still found exactly as
the pattern finds them."""

from __future__ import annotations

import random
import re
import time

import pytest

from mist_pl.chem import names, spans, tags

MEGABYTE = 1_000_000
SECONDS_PER_MEGABYTE = 20.0  # linear code takes a fraction of a second; the quadratic took minutes


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def megabyte(unit: str) -> str:
    return unit * (MEGABYTE // len(unit))


@pytest.mark.parametrize("text", [
    megabyte("[START_SMILES] word "),  # unclosed opening tags all the way
    "[START_SMILES]" + megabyte("a [START_CIF] b "),  # one unclosed SMILES, then unclosed CIFs
    megabyte("[START_CIF] CCCC ") + "[END_CIF]",  # one block, opened a megabyte earlier
])
def test_a_megabyte_with_unclosed_tags_is_handled_in_linear_time(text):
    result, seconds = timed(spans.tag_smiles_spans, text)
    assert seconds < SECONDS_PER_MEGABYTE, f"tag_smiles_spans: {seconds:.1f} s"
    for find in (tags.find_smiles, tags.find_cifs):
        _, seconds = timed(find, text)
        assert seconds < SECONDS_PER_MEGABYTE, f"{find.__name__}: {seconds:.1f} s"
    _, seconds = timed(names.annotate_names, text, {"word": "CCO"})
    assert seconds < SECONDS_PER_MEGABYTE, f"annotate_names: {seconds:.1f} s"


@pytest.mark.parametrize("token", ["x" + ")" * MEGABYTE, "(" * (MEGABYTE // 2) + "x" + ")" * (MEGABYTE // 2)])
def test_a_megabyte_token_of_parentheses_is_trimmed_in_linear_time(token):
    (start, end), seconds = timed(spans.trim_token, token)
    assert seconds < SECONDS_PER_MEGABYTE
    assert token[start:end] == "x"
    _, seconds = timed(spans.tag_smiles_spans, token)
    assert seconds < SECONDS_PER_MEGABYTE


def pattern_blocks(text: str) -> list[tuple[int, int]]:
    """What the non-greedy patterns find (the reference; fine on short texts)."""
    return [(m.start(), m.end()) for m in tags.TAGGED_BLOCK.finditer(text)]


def random_text(rng: random.Random) -> str:
    pieces = [*tags.ALL_TAGS, "CCO", " ", "x", "\n", "[", "]", "[START_", "SMILES]"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))


def test_blocks_are_those_the_pattern_finds():
    rng = random.Random(0)
    texts = [random_text(rng) for _ in range(3000)] + [
        "[START_SMILES]a[START_SMILES]b[END_SMILES]c[END_SMILES]",
        "[START_CIF]x[START_SMILES]y[END_CIF]z[END_SMILES]",
        "[START_SMILES]unclosed [START_CIF]cif[END_CIF] then [START_SMILES]C[END_SMILES]",
    ]
    for text in texts:
        found = [(start, end) for start, _, _, end in tags.tagged_spans(text)]
        assert found == pattern_blocks(text), text
        smiles = [m.group(1).strip() for m in re.finditer(r"\[START_SMILES\](.*?)\[END_SMILES\]", text, re.DOTALL)]
        assert tags.find_smiles(text) == smiles, text
        cifs = [m.group(1).strip() for m in re.finditer(r"\[START_CIF\](.*?)\[END_CIF\]", text, re.DOTALL)]
        assert tags.find_cifs(text) == cifs, text


def reference_wraps_whole(core: str) -> bool:
    depth = 0
    for index, char in enumerate(core):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return index == len(core) - 1
    return False


def reference_trim(token: str) -> tuple[int, int]:
    """trim_token as it was (quadratic on long tokens), to check the new one against."""
    start, end = 0, len(token)
    changed = True
    while changed and start < end:
        changed = False
        core = token[start:end]
        if core[-1] in spans._TRAILING_PUNCTUATION:
            end -= 1
            changed = True
        elif core[0] in spans._LEADING_PUNCTUATION:
            start += 1
            changed = True
        elif core[-1] == ")" and core.count(")") > core.count("("):
            end -= 1
            changed = True
        elif core[0] == "(" and core.count("(") > core.count(")"):
            start += 1
            changed = True
        elif core[0] == "(" and core[-1] == ")" and reference_wraps_whole(core):
            start += 1
            end -= 1
            changed = True
    return start, end


def test_trimming_is_unchanged():
    rng = random.Random(1)
    alphabet = "()()()C=.,'\"x"
    tokens = ["(CC(=O)O).", '"OCCN",', "((CCO))", "(a)(b)", "CC(C)", "x)", "((x)", "'(CCO)'.", "", "()", ")("]
    tokens += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(20000)]
    for token in tokens:
        assert spans.trim_token(token) == reference_trim(token), token
