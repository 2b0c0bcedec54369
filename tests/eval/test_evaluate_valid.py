"""evaluate_task reports the valid-answer rate next to top-1, with fixed completions.

Generation is replaced by canned completions so every number is exact; the tiny model
and tokenizer still build and length-check the prompts.
"""

import pytest

from mist_pl.eval import evaluate as evaluate_module
from mist_pl.eval.evaluate import EvalConfig, evaluate_task
from mist_pl.tasks.registry import Task, get_task

EXAMPLES = [
    {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "true"},
    {"reaction": "CCO>>CCCCCCCC", "answer": "false"},
]


def answer(text):
    # As generated after the prompt's response prefix "<think>", which evaluation puts back.
    return f"checked the atoms</think><answer>{text}</answer>"


# Per example: the greedy completion, then the n = 4 sampled ones.
GREEDY = [[answer("true")], [answer("true")]]  # right; valid but wrong
SAMPLED = [
    [answer("true"), answer("false"), answer("perhaps"), "x</think><answer>true"],  # 1 right, 2 valid
    [answer("false"), answer("FALSE"), answer("true"), "no tags at all"],  # 2 right, 3 valid
]


@pytest.fixture
def canned(monkeypatch):
    calls = []

    def fake_sample(model, tokenizer, prompts, n, temperature, **kwargs):
        calls.append((len(prompts), n, temperature))
        source = GREEDY if temperature == 0.0 else SAMPLED
        assert len(prompts) == len(source) and all(len(outs) == n for outs in source)
        return [list(outs) for outs in source]

    monkeypatch.setattr(evaluate_module, "sample_completions", fake_sample)
    return calls


def config(**overrides):
    return EvalConfig(**{"k": 2, "n": 4, "max_new_tokens": 6, "batch_size": 2, **overrides})


def test_valid_and_top1_are_reported_separately(tiny_model, tokenizer, canned):
    result = evaluate_task(tiny_model, tokenizer, get_task("rxn_true_false"), EXAMPLES, config())
    m = result.metrics
    assert canned == [(2, 1, 0.0), (2, 4, 0.9)]
    assert m["top1"] == 0.5 and m["valid"] == 1.0  # the model formats every answer, solves half
    assert m["pass@1_sampled"] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert m["valid_sampled"] == pytest.approx(5 / 8)
    assert m["chance_top1"] == 0.5
    assert m["metric_errors"] == 0 and m["valid_errors"] == 0
    greedy = [(r["correct"], r["valid"]) for r in result.samples if r["mode"] == "greedy"]
    assert greedy == [(True, True), (False, True)]
    sampled = [(r["correct"], r["valid"]) for r in result.samples if r["mode"] == "sample"]
    assert sampled == [(True, True), (False, True), (False, False), (False, False),
                       (True, True), (True, True), (False, True), (False, False)]
    assert all(type(r["valid"]) is bool for r in result.samples)
    assert all(r["completion"].startswith("<think>") for r in result.samples)  # judged as the whole turn


def test_greedy_only_has_no_sampled_rate(tiny_model, tokenizer, canned):
    m = evaluate_task(tiny_model, tokenizer, get_task("rxn_true_false"), EXAMPLES, config(sampled=False)).metrics
    assert m["top1"] == 0.5 and m["valid"] == 1.0 and "valid_sampled" not in m


def test_task_without_a_validity_check_reports_none(tiny_model, tokenizer, canned):
    task = Task(name="probe", build_prompt=lambda e: f"Is {e['reaction']} real?", rewards=(),
                top1=lambda c, e: "true" in c)
    result = evaluate_task(tiny_model, tokenizer, task, EXAMPLES, config())
    m = result.metrics
    assert m["valid"] is None and m["valid_sampled"] is None and m["chance_top1"] is None
    assert m["top1"] == 1.0 and all(r["valid"] is None for r in result.samples)


def test_a_raising_validity_check_counts_as_invalid(tiny_model, tokenizer, canned):
    def broken(completion, example):
        if "false" in completion.casefold():
            raise RuntimeError("bug in the check")
        return True

    base = get_task("rxn_true_false")
    task = Task(name="probe", build_prompt=base.build_prompt, rewards=(), top1=base.top1, valid=broken)
    m = evaluate_task(tiny_model, tokenizer, task, EXAMPLES, config()).metrics
    assert m["valid"] == 1.0 and m["valid_sampled"] == pytest.approx(5 / 8)  # 3 sampled completions say false
    assert m["valid_errors"] == 3 and m["metric_errors"] == 0 and m["top1"] == 0.5


def test_cli_summary_line_puts_top1_next_to_valid_and_chance():
    from mist_pl.eval.__main__ import summary_line

    metrics = {"top1": 0.12, "valid": 0.96, "chance_top1": 0.1, "k": 4, "pass@4": 0.3, "valid_sampled": 0.9,
               "n_evaluated": 50}
    assert summary_line("rxn_naming", metrics) == (
        "rxn_naming: top-1 12% (valid answers 96%, chance 10%); pass@4 30% (valid sampled 90%), n=50")
    assert summary_line("x", {"top1": None, "valid": None, "k": 8, "n_evaluated": 0}) == (
        "x: top-1 - (valid answers -), n=0")
