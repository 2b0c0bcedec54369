"""The completion parser's rules (see mist_pl/tasks/answer.py) and the format reward."""

import time

import pytest

from mist_pl.tasks.answer import MAX_COMPLETION_CHARS, format_reward, parse_completion


def test_well_formed_completion_gives_stripped_fields():
    parsed = parse_completion("<think> esters form </think>\n<answer>  CCOC(C)=O \n</answer>")
    assert parsed.well_formed
    assert parsed.think == "esters form"
    assert parsed.answer == "CCOC(C)=O"
    assert parsed.problems == []


def test_trailing_end_markers_and_whitespace_are_ignored():
    parsed = parse_completion("  <think>x</think><answer>y</answer>\n<|im_end|>\n<|endoftext|>  ")
    assert parsed.well_formed and parsed.answer == "y"


def test_empty_think_is_allowed_but_empty_answer_is_not():
    assert parse_completion("<think></think><answer>A</answer>").well_formed
    parsed = parse_completion("<think>x</think><answer>  </answer>")
    assert not parsed.well_formed and parsed.answer == "" and "empty answer" in parsed.problems


@pytest.mark.parametrize(
    "text, answer, think, problem",
    [
        ("<answer>B</answer>", "B", None, "missing <think> block"),
        ("<think>only thinking</think>", None, "only thinking", "missing <answer> block"),
        ("no tags at all", None, None, "missing <answer> block"),
        ("<think>a</think><answer>first</answer><answer>second</answer>", None, "a", "2 complete <answer> blocks (none counts)"),
        ("<think>a</think><think>b</think><answer>x</answer>", "x", "b", "2 complete <think> blocks (the last one counts)"),
        ("<think>a</think><answer>out<answer>in</answer>x</answer>", None, "a", "1 nested <answer> tag(s)"),
        ("<think>a</think><answer>x", None, "a", "unclosed <answer> block"),
        ("<think>a</think></answer><answer>x</answer>", "x", "a", "1 stray </answer> tag(s)"),
        ("<think>a</think>junk<answer>x</answer>", "x", "a", "text outside the <think> and <answer> blocks"),
        ("<think>a</think><answer>x</answer> trailing", "x", "a", "text outside the <think> and <answer> blocks"),
        ("<answer>x</answer><think>a</think>", "x", "a", "<think> block does not come before the <answer> block"),
    ],
)
def test_malformed_completions_are_reported(text, answer, think, problem):
    parsed = parse_completion(text)
    assert not parsed.well_formed
    assert parsed.answer == answer
    assert parsed.think == think
    assert problem in parsed.problems


def test_an_earlier_complete_answer_survives_a_later_unclosed_one():
    parsed = parse_completion("<think>a</think><answer>kept</answer><answer>cut off")
    assert parsed.answer == "kept" and not parsed.well_formed


def test_tags_are_case_sensitive():
    parsed = parse_completion("<Think>a</Think><ANSWER>x</ANSWER>")
    assert parsed.answer is None and parsed.think is None


@pytest.mark.parametrize("value", [None, 42, b"<answer>x</answer>", ["no", "dicts"], {"role": "assistant"}])
def test_non_text_is_rejected_without_raising(value):
    parsed = parse_completion(value)
    assert parsed == parse_completion(value)  # deterministic
    assert not parsed.well_formed and parsed.answer is None


def test_chat_style_completion_uses_last_message_content():
    completion = [{"role": "assistant", "content": "<think>t</think><answer>A</answer>"}]
    parsed = parse_completion(completion)
    assert parsed.well_formed and parsed.answer == "A"


def test_oversized_completion_is_rejected_cheaply():
    text = "<think>" + "x" * MAX_COMPLETION_CHARS + "</think><answer>A</answer>"
    start = time.perf_counter()
    parsed = parse_completion(text)
    assert time.perf_counter() - start < 10  # a guard against blow-ups (the quadratic path took minutes), not a speed target: loaded CI machines are slow
    assert parsed.answer is None and not parsed.well_formed


@pytest.mark.parametrize(
    "text",
    [
        "<answer>" * 100_000,
        "</answer>" * 100_000,
        "<think><answer>" * 50_000,
        "<|im_end|>" * 100_000,
        "<" * 1_000_000,
        "<think>" + "(" * 900_000 + "</think><answer>C</answer>",
    ],
)
def test_adversarial_megabyte_inputs_parse_fast(text):
    start = time.perf_counter()
    parsed = parse_completion(text)
    assert time.perf_counter() - start < 10  # a guard against blow-ups (the quadratic path took minutes), not a speed target: loaded CI machines are slow
    assert len(parsed.problems) <= 6  # counted, not one entry per tag


def test_format_reward_scores_each_completion():
    completions = ["<think>a</think><answer>b</answer>", "<answer>b</answer>", "", None]
    assert format_reward(completions, answer=["x"] * 4) == [1.0, 0.0, 0.0, 0.0]
