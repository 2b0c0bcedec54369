"""GRPO logs a per-task valid-answer rate next to its accuracy."""

import torch
from rl_helpers import chat_ids

from mist_pl.models.chat import left_pad
from mist_pl.models.factory import ModelConfig
from mist_pl.modules.grpo import GRPOModule
from mist_pl.rl.config import GRPOConfig
from mist_pl.rl.metrics import task_metrics
from mist_pl.rl.sampling import SamplingConfig

G = 4


def _module():
    torch.manual_seed(0)
    module = GRPOModule(
        lm=ModelConfig(),
        grpo=GRPOConfig(prompts_per_round=2, num_generations=G, micro_batch_size=8, beta=0.0, reward_runner="thread"),
        sampling=SamplingConfig(max_new_tokens=4),
        rewards=[{"fn": "mist_pl.tasks.answer.format_reward", "weight": 1.0}],
    )
    module.configure_model()
    return module


def answer(text):
    return f"<think>x</think><answer>{text}</answer>"


def test_collect_rollouts_logs_valid_rate_next_to_accuracy(tokenizer, monkeypatch):
    module = _module()
    # The tiny model's text is noise: decode to fixed completions so the rates are exact.
    fixed = [answer("true"), answer("false"), answer("maybe"), "no answer",  # true/false, gold "true"
             answer("Reduction"), answer("Acylation"), answer("Acylation"), answer("Oxidation")]  # gold "Reduction"
    monkeypatch.setattr(module.tokenizer, "batch_decode", lambda ids, **kwargs: list(fixed))
    prompts = ["Is CCO>>CC=O real?", "Name the class of CC=O>>CCO"]
    ids, mask = left_pad([chat_ids(tokenizer, p) for p in prompts], tokenizer.pad_token_id)
    batch = {"input_ids": ids, "attention_mask": mask,
             "columns": {"prompt": prompts, "task": ["rxn_true_false", "rxn_naming"], "answer": ["true", "Reduction"]}}
    _, _, per_task = module.collect_rollouts(batch)
    assert per_task["task/rxn_true_false/accuracy"] == 1 / 4
    assert per_task["task/rxn_true_false/valid_rate"] == 2 / 4
    assert per_task["task/rxn_naming/accuracy"] == 1 / 4
    assert per_task["task/rxn_naming/valid_rate"] == 3 / 4


def test_task_metrics_leave_out_unjudged_rates():
    tasks = ["a", "a", "b", "b"]
    totals = torch.tensor([1.0, 0.0, float("nan"), 0.5])
    out = task_metrics(tasks, totals, [1.0, 0.0, None, None], [1.0, 1.0, None, None])
    assert out["task/a/accuracy"] == 0.5 and out["task/a/valid_rate"] == 1.0
    assert "task/b/accuracy" not in out and "task/b/valid_rate" not in out and out["task/b/reward_mean"] == 0.5
    assert "task/a/valid_rate" not in task_metrics(tasks, totals, [1.0, 0.0, None, None])  # no valid list
