"""The mist evaluation protocol: the reference's sampling settings, one retry for a
completion without an answer block, substring scoring beside strict scoring."""

import gzip
import json

import pytest

from mist_pl.eval import evaluate as evaluate_module
from mist_pl.eval import generation as generation_module
from mist_pl.eval.__main__ import main, parse_args, summary_line
from mist_pl.eval.evaluate import EvalConfig, evaluate_task, mist_budget
from mist_pl.eval.generation import sample_completions
from mist_pl.eval.mist_protocol import MIST, has_answer, substring_correct
from mist_pl.eval.stats import wilson_interval
from mist_pl.models.chat import encode_prompt
from mist_pl.models.factory import context_limit
from mist_pl.tasks.registry import get_task

TASK = get_task("rxn_naming")

EXAMPLES = [
    {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"},
    {"reaction": "CC(=O)OCC>>CC(=O)O", "answer": "Deprotection"},
    {"reaction": "c1ccccc1Br.OB(O)c1ccccc1>>c1ccc(-c2ccccc2)cc1", "answer": "C-C Coupling"},
    {"reaction": "CC=O>>CCO", "answer": "Reduction"},
]


def answer(text, think="looked at the bonds"):
    # As generated after the prompt's response prefix "<think>", which evaluation puts back.
    return f"{think}</think><answer>{text}</answer>"


# ------------------------------------------------------------------ scoring


@pytest.mark.parametrize("text, gold, strict, substring", [
    (answer("Acylation"), "Acylation", True, True),
    (answer("This is an Acylation reaction"), "Acylation", False, True),  # a sentence around the class
    (answer("acylation"), "Acylation", True, True),  # case is ignored by both
    (answer("Acylation or Reduction"), "Reduction", False, True),  # two classes named: right for each
    (answer("Deprotection"), "Protection", False, True),  # case-folded, "protection" lies in "deprotection"
    (answer("Protection"), "Deprotection", False, False),  # the reverse is wrong either way
    (answer("C\u2013C Coupling"), "C-C Coupling", True, False),  # strict folds dashes, substring does not
    (answer("Reduction."), "Reduction", True, True),
    ("the class is Acylation", "Acylation", False, False),  # no answer block: nothing is searched
    (answer("Miscellaneous", think="Acylation? no"), "Acylation", False, False),  # the reasoning is not searched
    ("<answer>Acylation", "Acylation", False, False),  # an unclosed block is no answer
])
def test_substring_and_strict_scoring(text, gold, strict, substring):
    example = {"reaction": "CC>>CC", "answer": gold}
    completion = "<think>" + text
    assert TASK.top1(completion, example) is strict
    assert substring_correct(completion, example) is substring


def test_answer_block_detection():
    assert has_answer("<think>x</think><answer>Acylation</answer>")
    assert has_answer("<think>x</think><answer></answer>")  # empty, but the model answered
    assert not has_answer("<think>Acylation")
    assert not has_answer("<think>x</think><answer>Acylation")  # cut inside the answer
    assert not substring_correct(answer(""), {"answer": "Acylation"})
    assert not substring_correct(answer("Acylation"), {"answer": ""})


# ------------------------------------------------------------------ the protocol, with canned completions

FIRST = [
    answer("Acylation"),  # right by both rules
    "looked and looked, no answer yet",  # no answer block: retried
    answer("it is a C-C Coupling"),  # substring only
    "Reduction, I think",  # no answer block: retried
]
RETRY = [
    answer("Deprotection"),  # the retry answers, and right
    "still nothing",  # no second retry
]


@pytest.fixture
def canned(monkeypatch):
    calls = []

    def fake_sample(model, tokenizer, prompts, n, temperature, **kwargs):
        calls.append({"prompts": [list(p) for p in prompts], "n": n, "temperature": temperature, **kwargs})
        source = FIRST if len(calls) == 1 else RETRY
        assert len(prompts) == len(source)
        return [[c] for c in source]

    monkeypatch.setattr(evaluate_module, "sample_completions", fake_sample)
    return calls


def mist(**overrides):
    return EvalConfig(**{"protocol": "mist", "batch_size": 2, **overrides})


def test_reference_settings_and_one_retry_only_without_an_answer(tiny_model, tokenizer, canned):
    result = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist(seed=5))
    # Two sampler calls: every example once, then once more for the two without an answer
    # block; the one still without one after its retry is not sampled a third time.
    assert len(canned) == 2
    first, retry = canned
    for call in canned:
        assert call["n"] == 1 and call["temperature"] == 0.8 and call["top_p"] == 0.8 and call["top_k"] == 20
    assert first["seed"] == 5 and retry["seed"] == 6  # another seed: the retry is a new draw
    assert retry["prompts"] == [first["prompts"][1], first["prompts"][3]]
    m = result.metrics
    assert m["retried"] == 2 and m["answered_after_retry"] == 1 and m["no_answer"] == 1
    assert m["retried_rate"] == 0.5
    # Scored on the final completions: Acylation (both), Deprotection after retry (both),
    # "it is a C-C Coupling" (substring only), no answer (neither).
    assert m["top1_strict"] == 2 / 4 and m["top1_substring"] == 3 / 4
    assert m["top1_strict_ci"] == list(wilson_interval(2, 4))
    assert m["top1_substring_ci"] == list(wilson_interval(3, 4))
    assert m["valid"] == 2 / 4 and m["valid_ci"] == list(wilson_interval(2, 4))
    assert m["chance_top1"] == pytest.approx(0.1)
    assert "top1" not in m and "pass@8" not in m  # the default protocol's numbers are not mixed in


def test_every_completion_is_kept_and_the_retries_are_marked(tiny_model, tokenizer, canned):
    rows = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist()).samples
    summary = [(r["index"], r["attempt"], r["retried"], r["final"], r["has_answer"], r["correct"],
                r["correct_substring"]) for r in rows]
    assert summary == [
        (0, 0, False, True, True, True, True),
        (1, 0, True, False, False, False, False),
        (1, 1, True, True, True, True, True),
        (2, 0, False, True, True, False, True),
        (3, 0, True, False, False, False, False),
        (3, 1, True, True, False, False, False),
    ]
    assert all(r["mode"] == "mist" and r["completion"].startswith("<think>") for r in rows)
    assert [r["completion"] for r in rows if r["attempt"] == 1] == ["<think>" + c for c in RETRY]


def test_no_retry_when_every_completion_answers(tiny_model, tokenizer, monkeypatch):
    calls = []

    def fake_sample(model, tokenizer, prompts, n, temperature, **kwargs):
        calls.append(len(prompts))
        return [[answer("Reduction")] for _ in prompts]

    monkeypatch.setattr(evaluate_module, "sample_completions", fake_sample)
    m = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist()).metrics
    assert calls == [4] and m["retried"] == 0 and m["no_answer"] == 0
    assert m["top1_strict"] == m["top1_substring"] == 1 / 4


def test_protocol_and_settings_are_recorded(tiny_model, tokenizer, canned):
    m = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist(seed=3)).metrics
    settings = m["protocol_settings"]
    assert m["protocol"] == "mist"
    assert (settings["temperature"], settings["top_p"], settings["top_k"]) == (0.8, 0.8, 20)
    assert settings["retries"] == 1 and settings["samples_per_example"] == 1 and settings["seed"] == 3
    assert settings["retry_seed"] == 4 and settings["reference_test_size"] == 3000
    assert "substring" in settings["top1_substring"] and "retry" in settings["retry_rule"]
    json.dumps(m)  # plain data, as metrics.json holds it


def test_new_tokens_are_capped_by_the_context_and_can_be_set(tiny_model, tokenizer, canned):
    limit = context_limit(tiny_model)
    longest = max(len(encode_prompt(tokenizer, TASK.build_prompt(e), None, TASK.response_prefix)) for e in EXAMPLES)
    m = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist()).metrics
    assert limit < MIST.max_new_tokens == m["max_new_tokens_requested"] == 4096
    assert m["max_new_tokens"] == canned[0]["max_new_tokens"] == limit - longest
    assert m["protocol_settings"]["max_new_tokens"] == limit - longest and m["protocol_settings"]["context"] == limit
    canned.clear()
    m = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, mist(max_new_tokens=16)).metrics
    assert m["max_new_tokens"] == m["max_new_tokens_requested"] == 16
    assert {call["max_new_tokens"] for call in canned} == {16}


def test_budget_rule_and_long_prompts():
    assert mist_budget(4096, None, [300]) == 4096
    assert mist_budget(4096, 32768, [300, 500]) == 4096
    assert mist_budget(4096, 2048, [228, 300]) == 2048 - 300
    assert mist_budget(64, 2048, []) == 64


def test_a_prompt_too_long_for_half_the_context_is_skipped(tiny_model, tokenizer, canned):
    long_one = {"reaction": ".".join(f"C{i}O" for i in range(300)) + ">>C", "answer": "Reduction"}
    length = len(encode_prompt(tokenizer, TASK.build_prompt(long_one), None, TASK.response_prefix))
    assert context_limit(tiny_model) // 2 < length < context_limit(tiny_model)  # fits, but would crush the budget
    m = evaluate_task(tiny_model, tokenizer, TASK, [long_one, *EXAMPLES], mist()).metrics
    assert m["skipped"]["too_long"] == 1 and m["n_evaluated"] == 4


def test_config_fixes_the_reference_settings():
    config = EvalConfig(protocol="mist")
    assert (config.temperature, config.top_p, config.top_k, config.max_new_tokens) == (0.8, 0.8, 20, 4096)
    assert EvalConfig(protocol="mist", temperature=0.8, top_k=20).top_k == 20  # the same values are accepted
    for other in ({"temperature": 0.9}, {"top_p": 1.0}, {"top_k": 0}):
        with pytest.raises(ValueError, match="mist protocol"):
            EvalConfig(protocol="mist", **other)
    with pytest.raises(ValueError, match="protocol"):
        EvalConfig(protocol="paper")
    default = EvalConfig()  # unchanged: greedy top-1 and pass@k at 0.9, no filters, 256 tokens
    assert (default.protocol, default.temperature, default.top_p, default.top_k, default.max_new_tokens) == (
        "default", 0.9, 1.0, 0, 256)
    assert default.greedy and default.sampled


# ------------------------------------------------------------------ real sampling on the tiny model


def test_sampler_applies_top_k_and_top_p(tiny_model, tokenizer):
    prompts = [encode_prompt(tokenizer, "Hello"), encode_prompt(tokenizer, "A longer prompt here")]
    greedy = sample_completions(tiny_model, tokenizer, prompts, 2, 0.0, max_new_tokens=8)
    # Keeping one token (top-k 1, or a nucleus that only the likeliest fills) is greedy decoding.
    assert sample_completions(tiny_model, tokenizer, prompts, 2, 0.8, max_new_tokens=8, top_k=1, seed=3) == greedy
    assert sample_completions(tiny_model, tokenizer, prompts, 2, 0.8, max_new_tokens=8, top_p=1e-6, seed=3) == greedy
    # Without the filters the random tiny model's near-flat distribution is sampled.
    assert sample_completions(tiny_model, tokenizer, prompts, 2, 0.8, max_new_tokens=8, seed=3) != greedy


def test_mist_protocol_runs_the_sampler_with_the_reference_settings(tiny_model, tokenizer, monkeypatch):
    configs = []

    class Spy(generation_module.HFSampler):
        def __init__(self, config, tokenizer):
            configs.append(config)
            super().__init__(config, tokenizer)

    monkeypatch.setattr(generation_module, "HFSampler", Spy)
    config = mist(max_new_tokens=4, seed=11)
    result = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES[:2], config)
    # Four new tokens of a random model never close an answer block: both are retried, once.
    assert len(configs) == 2
    assert all((c.temperature, c.top_p, c.top_k, c.max_new_tokens) == (0.8, 0.8, 20, 4) for c in configs)
    assert [(r["index"], r["attempt"]) for r in result.samples] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert result.metrics["retried"] == 2 and result.metrics["top1_strict"] == 0.0
    again = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES[:2], config)
    assert [r["completion"] for r in again.samples] == [r["completion"] for r in result.samples]  # seeded
    first, retry = result.samples[0]["completion"], result.samples[1]["completion"]
    assert first != retry  # the retry is a new draw, not the same one again


# ------------------------------------------------------------------ command line


def write_reactions(path):
    path.write_text("reaction,class\n" + "".join(f"{e['reaction']},{e['answer']}\n" for e in EXAMPLES))
    return path


def test_cli_mist_protocol_writes_metrics_and_gzipped_samples(tiny_model, tokenizer, tmp_path):
    folder = tmp_path / "hf"
    tiny_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = write_reactions(tmp_path / "rxn.csv")
    out = tmp_path / "out"
    metrics = main(["--model", str(folder), "--task", "rxn_naming", "--split", str(data), "--limit", "2",
                    "--protocol", "mist", "--max-new-tokens", "4", "--gzip", "--out", str(out)])
    saved = json.loads((out / "metrics.json").read_text())["rxn_naming"]
    assert saved == json.loads(json.dumps(metrics["rxn_naming"]))
    assert saved["protocol"] == "mist" and saved["max_new_tokens"] == 4
    assert {"top1_strict", "top1_substring", "top1_strict_ci", "top1_substring_ci", "valid", "valid_ci",
            "retried"} <= set(saved)
    with gzip.open(out / "rxn_naming_samples.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == 2 + saved["retried"]
    assert sum(r["final"] for r in rows) == 2 and {r["attempt"] for r in rows} <= {0, 1}
    assert not (out / "rxn_naming_samples.jsonl").exists()


def test_cli_mist_protocol_refuses_what_it_does_not_use():
    base = ["--task", "rxn_naming", "--out", "o", "--protocol", "mist"]
    assert parse_args([*base, "--max-new-tokens", "512"]).max_new_tokens == 512
    for extra in (["--k", "4"], ["--n", "8"], ["--temperature", "0.7"], ["--no-greedy"], ["--no-sampling"]):
        with pytest.raises(SystemExit):
            parse_args([*base, *extra])
    with pytest.raises(SystemExit):
        parse_args(["--task", "rxn_mcq", "--out", "o", "--protocol", "mist"])
    args = parse_args(["--task", "rxn_mcq", "--out", "o"])
    assert args.protocol == "default" and args.k is None and args.temperature is None


def test_summary_line_for_the_mist_protocol():
    metrics = {"protocol": "mist", "top1_strict": 0.5, "top1_strict_ci": [0.15, 0.85], "top1_substring": 0.75,
               "top1_substring_ci": [0.3, 0.95], "valid": 0.5, "retried": 2, "chance_top1": 0.1, "n_evaluated": 4}
    assert summary_line("rxn_naming", metrics) == (
        "rxn_naming (mist protocol): top-1 strict 50% [15, 85], substring 75% [30, 95] "
        "(valid answers 50%, retried 2, chance 10%), n=4")


def test_default_protocol_records_itself_and_its_intervals(tiny_model, tokenizer, monkeypatch):
    def fake_sample(model, tokenizer, prompts, n, temperature, **kwargs):
        assert temperature == 0.0 or (kwargs["top_p"], kwargs["top_k"]) == (1.0, 0)
        return [[answer("Acylation")] * n for _ in prompts]

    monkeypatch.setattr(evaluate_module, "sample_completions", fake_sample)
    config = EvalConfig(k=2, n=2, max_new_tokens=6, batch_size=2)
    m = evaluate_task(tiny_model, tokenizer, TASK, EXAMPLES, config).metrics
    assert m["protocol"] == "default" and m["protocol_settings"]["greedy"] and m["protocol_settings"]["k"] == 2
    assert m["top1"] == 1 / 4 and m["top1_ci"] == list(wilson_interval(1, 4))
    assert m["valid"] == 1.0 and m["valid_ci"] == list(wilson_interval(4, 4))
