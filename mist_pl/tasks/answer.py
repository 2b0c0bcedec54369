"""The answer layout every task shares: how a prompt asks for it, how a completion is
split into reasoning and answer, the format reward, and how an answer block is read as
a typed answer (a SMILES, a material, an option letter, true/false).

Sections, top to bottom:

* the prompt's layout sentence (:func:`answer_instructions`);
* the parser (:func:`parse_completion`) and the format reward (:func:`format_reward`);
* SMILES answers (:func:`smiles_text`, :func:`canonical_answer`, :func:`answer_smiles`,
  :func:`valid_smiles_answer`: the valid-answer check of every task whose answer is one
  molecule);
* material answers (:func:`parse_material_text`, :func:`cif_text`);
* closed answers (:func:`choice_letter`, :func:`true_false`).

Model output is untrusted: :func:`parse_completion` never raises, never uses a regular
expression (no backtracking blow-ups) and does one linear ``str.find`` scan per tag,
so a megabyte of adversarial text costs milliseconds. The typed readers check their
text character by character, bounded in length before anything else looks at it.

Parser rules
------------

Rules, applied to the text after trailing chat end markers (``<|im_end|>``,
``<|endoftext|>``) and surrounding whitespace are removed:

* Tags are matched exactly and case-sensitively: ``<think>``, ``</think>``,
  ``<answer>``, ``</answer>``. Anything else (``<Answer>``, ``<answer >``) is text.
* For each tag kind the tags are walked left to right with a depth counter. An opening
  tag at depth 0 starts a block; a closing tag at depth 1 ends it. An opening tag
  inside an open block is *nesting*; a closing tag with no open block is *stray*; a
  block still open at the end is *unclosed*.
* ``think`` is the stripped content of the **last complete block**; ``answer`` that of
  the **only complete answer block**: with two or more there is no answer (``None``), so
  a model cannot hedge with a second answer and collect for whichever is right. A block
  that contains a nested tag of its own kind is ambiguous and also gives ``None``, as
  does no complete block.
* ``well_formed`` is true only for exactly one think block followed by exactly one
  answer block, with no nesting, stray or unclosed tags, nothing but whitespace
  before, between and after the blocks, and a non-empty answer (an empty think is
  allowed). Every violation is listed in ``problems`` (bounded: counts, not copies).
* Texts longer than :data:`MAX_COMPLETION_CHARS` and non-strings give
  ``Parsed(None, None, False, [reason])``.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mist_pl.chem.tags import CIF_END, CIF_START, SMILES_END, SMILES_START

MAX_COMPLETION_CHARS = 1 << 20  # 1 MiB: far beyond any generation budget, still cheap to scan

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Every task's assistant turn starts with this already written (the prompt ends with it, as
# in the MiST reference code): the model begins inside its reasoning and half of the layout
# is given, so even a base model that has never seen the tags closes answers now and then.
# What is judged is the whole turn: this prefix plus the generated text.
RESPONSE_PREFIX = THINK_OPEN



def answer_instructions(what: str, placeholder: str) -> str:
    """The sentence every task prompt ends with: reason in <think>, put only ``what`` in
    <answer>.

    ``placeholder`` stands where the answer goes in the layout line. It must not itself
    be a valid answer of the task: a literal answer there ("C-C Coupling") is a string a
    model can copy for reward without reading the question, and RL finds such copies
    (the tests feed every task its own prompt as a completion and expect nothing for it).
    """
    return (
        "First reason step by step inside <think> </think>, then give "
        f"{what} inside <answer> </answer> and nothing after it. "
        f"Layout: <think>...</think><answer>{placeholder}</answer>"
    )


# End-of-turn markers a decoder may leave when special tokens are not skipped.
_TRAILERS = ("<|im_end|>", "<|endoftext|>")


@dataclass(frozen=True)
class Parsed:
    """What a completion says. ``None`` fields mean "not present / not usable"."""

    think: str | None
    answer: str | None
    well_formed: bool
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Blocks:
    """Complete outermost blocks of one tag kind, as (start, end) spans of the text."""

    spans: list[tuple[int, int]]  # span covers open tag .. close tag inclusive
    nested_in: set[int]  # indices into spans of blocks that contain a nested open tag
    n_nested: int
    n_stray: int
    unclosed: bool


def completion_text(completion: Any) -> str | None:
    """The text of a completion: a string, or the last message's ``content`` (TRL chat form)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion:
        last = completion[-1]
        if isinstance(last, dict) and isinstance(last.get("content"), str):
            return last["content"]
    if isinstance(completion, dict) and isinstance(completion.get("content"), str):
        return completion["content"]
    return None


def _tag_positions(text: str, tag: str) -> list[int]:
    positions, at = [], text.find(tag)
    while at != -1:
        positions.append(at)
        at = text.find(tag, at + len(tag))
    return positions


def _scan_blocks(text: str, open_tag: str, close_tag: str) -> _Blocks:
    events = [(p, 1) for p in _tag_positions(text, open_tag)]
    events += [(p, -1) for p in _tag_positions(text, close_tag)]
    events.sort()  # open and close tags never start at the same index
    spans: list[tuple[int, int]] = []
    nested_in: set[int] = set()
    depth = start = n_nested = n_stray = 0
    block_nested = False
    for pos, kind in events:
        if kind == 1:
            if depth == 0:
                start, block_nested = pos, False
            else:
                n_nested += 1
                block_nested = True
            depth += 1
        elif depth == 0:
            n_stray += 1
        else:
            depth -= 1
            if depth == 0:
                if block_nested:
                    nested_in.add(len(spans))
                spans.append((start, pos + len(close_tag)))
    return _Blocks(spans, nested_in, n_nested, n_stray, unclosed=depth > 0)


def _last_content(text: str, blocks: _Blocks, open_tag: str, close_tag: str) -> str | None:
    if not blocks.spans:
        return None
    last = len(blocks.spans) - 1
    if last in blocks.nested_in:
        return None
    start, end = blocks.spans[last]
    return text[start + len(open_tag) : end - len(close_tag)].strip()


def _strip_trailers(text: str) -> str:
    # Move an end index instead of slicing in the loop: slicing a megabyte of repeated
    # markers once per marker would be quadratic.
    end = len(text.rstrip())
    changed = True
    while changed:
        changed = False
        for marker in _TRAILERS:
            if text.endswith(marker, 0, end):
                end -= len(marker)
                while end and text[end - 1].isspace():
                    end -= 1
                changed = True
    return text[:end].strip()


def _describe(name: str, blocks: _Blocks, problems: list[str]) -> None:
    if not blocks.spans and not blocks.unclosed:
        problems.append(f"missing <{name}> block")
    if len(blocks.spans) > 1:
        problems.append(f"{len(blocks.spans)} complete <{name}> blocks"
                        + (" (none counts)" if name == "answer" else " (the last one counts)"))
    if blocks.n_nested:
        problems.append(f"{blocks.n_nested} nested <{name}> tag(s)")
    if blocks.n_stray:
        problems.append(f"{blocks.n_stray} stray </{name}> tag(s)")
    if blocks.unclosed:
        problems.append(f"unclosed <{name}> block")


def parse_completion(text: Any) -> Parsed:
    """Split a completion into reasoning and answer; see the module docstring for the rules."""
    try:
        return _parse(text)
    except Exception as error:  # defensive: the rules above should never raise
        return Parsed(None, None, False, [f"parser error: {type(error).__name__}"])


def _parse(raw: Any) -> Parsed:
    text = completion_text(raw)
    if text is None:
        return Parsed(None, None, False, ["completion is not text"])
    if len(text) > MAX_COMPLETION_CHARS:
        return Parsed(None, None, False, [f"completion longer than {MAX_COMPLETION_CHARS} characters"])
    text = _strip_trailers(text)

    think_blocks = _scan_blocks(text, THINK_OPEN, THINK_CLOSE)
    answer_blocks = _scan_blocks(text, ANSWER_OPEN, ANSWER_CLOSE)
    think = _last_content(text, think_blocks, THINK_OPEN, THINK_CLOSE)
    answer = _last_content(text, answer_blocks, ANSWER_OPEN, ANSWER_CLOSE) if len(answer_blocks.spans) == 1 else None

    problems: list[str] = []
    _describe("think", think_blocks, problems)
    _describe("answer", answer_blocks, problems)
    if len(think_blocks.spans) == 1 and len(answer_blocks.spans) == 1:
        (t_start, t_end), (a_start, a_end) = think_blocks.spans[0], answer_blocks.spans[0]
        if t_end > a_start:
            problems.append("<think> block does not come before the <answer> block")
        elif not problems:
            outside = text[:t_start] + text[t_end:a_start] + text[a_end:]
            if outside.strip():
                problems.append("text outside the <think> and <answer> blocks")
    if answer == "":
        problems.append("empty answer")
    return Parsed(think, answer, well_formed=not problems, problems=problems)


def format_reward(completions: list[Any], **columns: Any) -> list[float]:
    """1.0 for a well-formed ``<think>..</think><answer>..</answer>`` completion with some
    reasoning (at least one letter or digit) and a non-empty answer, else 0.0.

    Empty tags earn nothing (``<think></think><answer>x</answer>`` included), nor does the
    prompts' own layout line (``<think>...</think>``): the shape alone must not pay, or RL
    learns to skip the reasoning or to copy the prompt. The sampler stops at
    ``</answer>`` and the prompt opens ``<think>``, so text outside the blocks cannot
    occur in RL and a graded version (matched span over completion length, as in the
    MiST reference) would equal this one."""
    out = []
    for completion in completions:
        parsed = parse_completion(completion)
        reasoned = parsed.think is not None and any(ch.isalnum() for ch in parsed.think)
        out.append(1.0 if parsed.well_formed and reasoned else 0.0)
    return out


# -- SMILES answers --------------------------------------------------------------------
# The answer may be wrapped in the tokenizer's ``[START_SMILES]...[END_SMILES]`` tags or
# in backticks; anything else around the SMILES makes it invalid. Whitespace inside is
# rejected explicitly because RDKit reads "CCO is ethanol" as CCO named "is ethanol".

_SMILES_WRAPPERS = ((SMILES_START, SMILES_END), ("```", "```"), ("`", "`"))


def _smiles():
    # Inside: RDKit loads with the first SMILES answer, not with the parser (a reward
    # worker that runs only format_reward starts without it).
    from mist_pl.chem import smiles

    return smiles


def smiles_text(answer: str | None) -> str | None:
    """The bare SMILES string of an answer, or None if it cannot be one."""
    if answer is None:
        return None
    max_len = _smiles().MAX_SMILES_LEN
    text = answer.strip()
    if len(text) > max_len + 40:  # room for the wrapper tags only
        return None
    for start, end in _SMILES_WRAPPERS:
        if len(text) >= len(start) + len(end) and text.startswith(start) and text.endswith(end):
            text = text[len(start) : len(text) - len(end)].strip()
            break
    if not text or len(text) > max_len or any(ch.isspace() for ch in text):
        return None
    return text


def canonical_answer(answer: str | None) -> str | None:
    """RDKit canonical SMILES of the answer, or None if it is not a valid SMILES."""
    text = smiles_text(answer)
    return None if text is None else _smiles().canonicalize(text)


def canonical_gold(smiles: object) -> str | None:
    """Canonical SMILES of a gold answer (None for anything but a valid SMILES string)."""
    return _canonical_gold(smiles) if isinstance(smiles, str) else None


@functools.lru_cache(maxsize=65536)
def _canonical_gold(smiles: str) -> str | None:
    # cached: each gold answer repeats G times per prompt
    return _smiles().canonicalize(smiles)


def answer_smiles(completion: Any) -> str | None:
    """RDKit canonical SMILES of a completion's answer, or None without a valid one."""
    return canonical_answer(parse_completion(completion).answer)


def valid_smiles_answer(completion: Any, example: Any = None) -> bool:
    """Whether the answer is a SMILES RDKit reads (bare or in the wrappers
    :func:`smiles_text` accepts), right or wrong; the example is not consulted. The
    valid-answer check of the tasks whose answer is one molecule: exactly the answers
    their rewards do not score ``INVALID``."""
    return answer_smiles(completion) is not None


# -- material answers ------------------------------------------------------------------
# Text format (:func:`parse_material_text`): element tokens separated by whitespace or
# commas alike, one token per atom of the cell (``Na Cl``), optionally with a count
# (``Na2 Cl2``); then at most one space-group tag ``<sgN>`` as the last token. CIF answers
# are recognised by :func:`looks_like_cif` and may be wrapped in ``[START_CIF]...[END_CIF]``.

MAX_TEXT_ANSWER_CHARS = 4_000
MAX_MATERIAL_ATOMS = 500  # per cell; bounds the SMACT check and keeps answers plausible
MAX_COUNT_DIGITS = 3

_CIF_MARKERS = ("_cell_length_a", "_atom_site_", "_symmetry_space_group", "_space_group")


@dataclass(frozen=True)
class MaterialText:
    counts: dict[str, int]  # element symbol as written -> atoms in the cell
    space_group: int | None  # the <sgN> number, None when absent


def _element_token(token: str) -> tuple[str, int] | None:
    """``"Na"`` -> ("Na", 1); ``"Cl2"`` -> ("Cl", 2); anything else -> None."""
    i = 1
    if not token or not ("A" <= token[0] <= "Z"):
        return None
    while i < len(token) and i < 3 and "a" <= token[i] <= "z":
        i += 1
    symbol, digits = token[:i], token[i:]
    if not digits:
        return symbol, 1
    if len(digits) > MAX_COUNT_DIGITS or not all("0" <= d <= "9" for d in digits) or int(digits) == 0:
        return None
    return symbol, int(digits)


def _space_group_token(token: str) -> int | None:
    """``"<sg225>"`` -> 225; None if not a space-group tag."""
    if not (token.startswith("<sg") and token.endswith(">")):
        return None
    digits = token[3:-1].strip()
    if not digits or len(digits) > 4 or not all("0" <= d <= "9" for d in digits):
        return None
    return int(digits)


def parse_material_text(answer: str | None) -> MaterialText | None:
    """The composition and space group an ``El El ... <sgN>`` answer states, or None if it
    does not follow that format. A space group outside 1-230 still parses (it is scored
    separately)."""
    if answer is None or len(answer) > MAX_TEXT_ANSWER_CHARS:
        return None
    text = answer.replace(",", " ").replace("<sg", " <sg")
    tokens = text.split()
    if not tokens:
        return None
    space_group = None
    if tokens[-1].startswith("<sg"):
        space_group = _space_group_token(tokens.pop())
        if space_group is None:
            return None
    counts: Counter[str] = Counter()
    for token in tokens:
        parsed = _element_token(token)
        if parsed is None:
            return None
        counts[parsed[0]] += parsed[1]
        if sum(counts.values()) > MAX_MATERIAL_ATOMS:
            return None
    if not counts:
        return None
    return MaterialText(dict(counts), space_group)


def cif_text(answer: str | None) -> str | None:
    """The CIF inside an answer (wrapper tags removed) if the answer looks like one."""
    if answer is None:
        return None
    text = answer.strip()
    if text.startswith(CIF_START):
        text = text[len(CIF_START) :].strip()
        if text.endswith(CIF_END):
            text = text[: -len(CIF_END)].strip()
    return text if looks_like_cif(text) else None


def looks_like_cif(text: str) -> bool:
    return text.startswith("data_") or any(marker in text for marker in _CIF_MARKERS)


# -- closed answers: an option letter, true/false ----------------------------------------

LETTERS = string.ascii_uppercase
MAX_CHOICE_ANSWER_CHARS = 40  # "(B)", "Option B." fit; an essay is not a choice

_CHOICE_PUNCTUATION = "()[]{}<>.,:;!*'\"` "
_CHOICE_PREFIXES = ("option ", "answer ", "answer: ", "choice ")


def _bare_choice(answer: str | None) -> str | None:
    if answer is None or len(answer) > MAX_CHOICE_ANSWER_CHARS:
        return None
    text = " ".join(answer.split()).casefold()
    for prefix in _CHOICE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.strip(_CHOICE_PUNCTUATION)


def choice_letter(answer: str | None, n_options: int) -> str | None:
    """The option letter an answer picks ("b", "(B)", "Option B." -> "B"), or None when it
    is not exactly one letter among the first ``n_options``."""
    text = _bare_choice(answer)
    if text is None or len(text) != 1:
        return None
    letter = text.upper()
    return letter if letter in LETTERS[: max(0, min(n_options, len(LETTERS)))] else None


def true_false(answer: str | None) -> bool | None:
    """True for "true", False for "false" (any case, light punctuation), else None."""
    text = _bare_choice(answer)
    return {"true": True, "false": False}.get(text) if text is not None else None
