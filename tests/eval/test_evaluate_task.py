"""evaluate_task on the tiny model with tasks whose verdicts are known in advance."""

import json

import pytest
import torch

from mist_pl.eval.__main__ import main, summary_line
from mist_pl.eval.evaluate import EvalConfig, evaluate_task
from mist_pl.eval.generation import sample_completions
from mist_pl.eval.stats import pass_at_k
from mist_pl.models.chat import encode_prompt
from mist_pl.tasks.registry import Task, get_task

EXAMPLES = [{"question": "CCO", "answer": "x"}, {"question": "c1ccccc1", "answer": "y"}, {}]


def make_task(top1):
    return Task(name="probe", build_prompt=lambda e: f"Say something about {e['question']}", rewards=(), top1=top1)


def fast(**overrides):
    return EvalConfig(**{"k": 2, "n": 4, "max_new_tokens": 6, "batch_size": 2, **overrides})


def test_counts_and_perfect_metric(tiny_model, tokenizer):
    result = evaluate_task(tiny_model, tokenizer, make_task(lambda c, e: True), EXAMPLES, fast())
    m = result.metrics
    assert m["n_examples"] == 3 and m["n_evaluated"] == 2 and m["skipped"] == {"no_prompt": 1, "too_long": 0}
    assert m["top1"] == 1.0 and m["pass@2"] == 1.0 and m["pass@1_sampled"] == 1.0
    assert len([r for r in result.samples if r["mode"] == "greedy"]) == 2
    assert len([r for r in result.samples if r["mode"] == "sample"]) == 2 * 4


def test_pass_at_k_follows_the_verdicts(tiny_model, tokenizer):
    # A verdict that depends on the sampled text: recompute pass@k from the saved rows.
    result = evaluate_task(tiny_model, tokenizer, make_task(lambda c, e: len(c) % 2 == 0), EXAMPLES[:2], fast())
    per_example = {}
    for row in result.samples:
        if row["mode"] == "sample":
            per_example.setdefault(row["index"], []).append(row["correct"])
    expected = sum(pass_at_k(4, sum(v), 2) for v in per_example.values()) / len(per_example)
    assert result.metrics["pass@2"] == pytest.approx(expected)


def test_raising_metric_counts_as_wrong(tiny_model, tokenizer):
    def broken(completion, example):
        raise RuntimeError("bug")

    m = evaluate_task(tiny_model, tokenizer, make_task(broken), EXAMPLES[:1], fast()).metrics
    assert m["top1"] == 0.0 and m["pass@2"] == 0.0 and m["metric_errors"] == 1 + 4


def test_too_long_prompts_are_skipped(tiny_model, tokenizer):
    m = evaluate_task(tiny_model, tokenizer, make_task(lambda c, e: True), EXAMPLES[:2], fast(max_length=20)).metrics
    assert m["n_evaluated"] == 0 and m["skipped"]["too_long"] == 2
    assert m["top1"] is None and m["pass@2"] is None


def test_sampling_is_seeded_and_leaves_global_rng_alone(tiny_model, tokenizer):
    prompts = [encode_prompt(tokenizer, "Hello"), encode_prompt(tokenizer, "A longer prompt here")]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = sample_completions(tiny_model, tokenizer, prompts, 3, 0.9, max_new_tokens=5, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = sample_completions(tiny_model, tokenizer, prompts, 3, 0.9, max_new_tokens=5, seed=7)
    c = sample_completions(tiny_model, tokenizer, prompts, 3, 0.9, max_new_tokens=5, seed=8)
    # Reproducible for the same seed and batch size (the batch layout decides which
    # random numbers each row draws).
    assert a == b != c and len(a) == 2 and all(len(x) == 3 for x in a)


def test_greedy_equals_generate(tiny_model, tokenizer):
    ids = encode_prompt(tokenizer, "Hello")
    ours = sample_completions(tiny_model, tokenizer, [ids], 1, 0.0, max_new_tokens=6)[0][0]
    out = tiny_model.generate(torch.tensor([ids]), max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert ours == tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


def test_config_validation():
    with pytest.raises(ValueError):
        EvalConfig(k=8, n=4)
    with pytest.raises(ValueError):
        EvalConfig(temperature=0.0)
    assert EvalConfig(temperature=0.0, sampled=False).n == 8


def test_cli_writes_metrics_and_samples(tiny_model, tokenizer, tmp_path):
    folder = tmp_path / "hf"
    tiny_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "out"
    metrics = main(["--model", str(folder), "--task", "rxn_mcq", "--limit", "2", "--k", "2", "--n", "3",
                    "--max-new-tokens", "4", "--out", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics)) and set(saved["rxn_mcq"]) >= {"top1", "pass@2", "pass@1_sampled"}
    lines = (out / "rxn_mcq_samples.jsonl").read_text().splitlines()
    assert len(lines) == 2 * (1 + 3) and {"completion", "correct", "gold"} <= set(json.loads(lines[0]))
    # beside the model, the no-model rules on the same two examples (no train split here:
    # the closed task's uniform guess and best fixed letter)
    rules = {b["name"].split(" ")[0]: b for b in saved["rxn_mcq"]["baselines"]}
    assert set(rules) == {"random_valid", "best_fixed"} and all(b["n"] == 2 for b in rules.values())
    assert "best no-model rule" in summary_line("rxn_mcq", saved["rxn_mcq"])


def test_real_task_metric(tiny_model, tokenizer):
    task = get_task("rxn_true_false")
    examples = [{"reaction": "CCO>>CC=O", "answer": "true"}]
    m = evaluate_task(tiny_model, tokenizer, task, examples, fast()).metrics
    assert m["top1"] in (0.0, 1.0) and 0.0 <= m["pass@2"] <= 1.0


def test_a_split_belongs_to_the_task_before_it():
    from mist_pl.eval.__main__ import build_parser

    args = build_parser().parse_args(["--task", "rxn_mcq", "--task", "rxn_prediction", "--split", "src.txt", "--out", "o"])
    assert args.tasks == [["rxn_mcq", None], ["rxn_prediction", "src.txt"]]
    for bad in (["--split", "a.csv", "--task", "rxn_mcq"], ["--task", "rxn_mcq", "--split", "a", "--split", "b"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*bad, "--out", "o"])
