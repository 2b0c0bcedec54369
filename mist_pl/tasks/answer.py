"""Parse ``<think>...</think><answer>...</answer>`` completions; the format reward.

Model output is untrusted: :func:`parse_completion` never raises, never uses a regular
expression (no backtracking blow-ups) and does one linear ``str.find`` scan per tag,
so a megabyte of adversarial text costs milliseconds.

Rules, applied to the text after trailing chat end markers (``<|im_end|>``,
``<|endoftext|>``) and surrounding whitespace are removed:

* Tags are matched exactly and case-sensitively: ``<think>``, ``</think>``,
  ``<answer>``, ``</answer>``. Anything else (``<Answer>``, ``<answer >``) is text.
* For each tag kind the tags are walked left to right with a depth counter. An opening
  tag at depth 0 starts a block; a closing tag at depth 1 ends it. An opening tag
  inside an open block is *nesting*; a closing tag with no open block is *stray*; a
  block still open at the end is *unclosed*.
* ``answer`` / ``think`` is the stripped content of the **last complete block** of
  that kind. If that block contains a nested tag of its own kind it is ambiguous and
  the field is ``None``. No complete block also gives ``None``.
* ``well_formed`` is true only for exactly one think block followed by exactly one
  answer block, with no nesting, stray or unclosed tags, nothing but whitespace
  before, between and after the blocks, and a non-empty answer (an empty think is
  allowed). Every violation is listed in ``problems`` (bounded: counts, not copies).
* Texts longer than :data:`MAX_COMPLETION_CHARS` and non-strings give
  ``Parsed(None, None, False, [reason])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_COMPLETION_CHARS = 1 << 20  # 1 MiB: far beyond any generation budget, still cheap to scan

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Every task's assistant turn starts with this already written (the prompt ends with it, as
# in the MiST reference code): the model begins inside its reasoning and half of the layout
# is given, so even a base model that has never seen the tags closes answers now and then.
# What is judged is the whole turn: this prefix plus the generated text.
RESPONSE_PREFIX = THINK_OPEN

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
        problems.append(f"{len(blocks.spans)} complete <{name}> blocks (the last one counts)")
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
    answer = _last_content(text, answer_blocks, ANSWER_OPEN, ANSWER_CLOSE)

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
