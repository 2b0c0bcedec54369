"""LS_pass@k: latent solvability as pass@k of sampling, the RL-side view.

The MiST paper's exact latent-solvability formula is not public; this is one of two
labelled stand-ins (the other, :mod:`mist_pl.diagnostics.ls_logprob`, is a log-prob
effect size). GRPO can only learn from a group that contains a rewarded completion, so
the chance that k samples (k = 8 = the group size, temperature 0.9 as in RL) contain a
right one is what RL can start from. Computed by :func:`mist_pl.eval.evaluate.evaluate_task`
with the task's top-1 metric and the unbiased pass@k estimator; greedy decoding is not
run here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.eval.evaluate import EvalConfig, evaluate_task
from mist_pl.tasks.registry import get_task

NAME = "ls_passk"


def run_ls_passk(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task_examples: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    k: int = 8,
    n: int | None = None,
    temperature: float = 0.9,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    seed: int = 0,
    max_length: int | None = None,
    system_prompt: str | None = None,
    all_finished: Callable[[bool], bool] | None = None,
) -> DiagnosticResult:
    config = EvalConfig(k=k, n=n, temperature=temperature, greedy=False, max_new_tokens=max_new_tokens,
                        batch_size=batch_size, seed=seed, system_prompt=system_prompt, max_length=max_length)
    rows, metrics, counts = [], {}, {}
    key = f"pass@{k}"
    for task_name, examples in task_examples.items():
        result = evaluate_task(model, tokenizer, get_task(task_name), examples, config, all_finished=all_finished)
        rows.extend(result.samples)
        m = result.metrics
        # valid_sampled tells "cannot format" from "cannot solve" when pass@k is low.
        metrics[task_name] = {key: m.get(key), "pass@1_sampled": m.get("pass@1_sampled"),
                              "valid_sampled": m.get("valid_sampled"), "n_items": m["n_evaluated"]}
        counts[task_name] = {"read": m["n_examples"], "scored": m["n_evaluated"], **m["skipped"],
                             "metric_errors": m["metric_errors"]}
    values = [v[key] for v in metrics.values() if v.get(key) is not None]
    metrics["macro"] = {key: float(np.mean(values)) if values else None}
    summary = {
        "diagnostic": f"LS_pass@{k} (latent solvability, sampling variant)",
        "note": "the MiST paper's exact latent-solvability formula is not public; LS_pass@k is a labelled stand-in",
        "metrics": metrics,
        "counts": counts,
        "definition": {
            "estimator": "unbiased pass@k = 1 - C(n-c, k)/C(n, k) per example (product form), averaged",
            "k": k, "n": config.n, "temperature": temperature, "max_new_tokens": max_new_tokens, "seed": seed,
            "metric": "the task's top1(completion, example)",
            "valid_sampled": "share of the sampled completions that close a well-typed answer (the task's valid)",
        },
    }
    return DiagnosticResult(NAME, rows, summary)
