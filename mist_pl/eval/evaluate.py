"""Evaluate one task: greedy top-1 and sampled pass@k with the task's own top-1 metric.

* **top-1**: one greedy completion (temperature 0) per example, judged by
  ``task.top1(completion, example)``; the share of examples judged right.
* **pass@k**: ``n >= k`` completions per example at ``temperature``; with ``c`` right,
  the unbiased estimator :func:`mist_pl.eval.pass_at_k.pass_at_k` per example, averaged.
  ``pass@1_sampled`` is the mean of ``c / n`` (the same estimator at k = 1).

Prompts are the task's ``build_prompt`` rendered in the chat template
(:mod:`mist_pl.eval.prompts`). Examples are skipped and counted, never fatal, when no
prompt can be built (``no_prompt``) or prompt plus ``max_new_tokens`` exceeds the
model's context (``too_long``). A metric that raises on model output counts as wrong
and is counted in ``metric_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.scoring import context_limit
from mist_pl.eval.generation import sample_completions
from mist_pl.eval.pass_at_k import mean_pass_at_k
from mist_pl.eval.prompts import encode_prompt
from mist_pl.tasks.registry import Task

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """How a task is evaluated.

    Args:
        k: pass@k's k (8, the GRPO group size in the MiST recipes).
        n: samples per example for pass@k (default k; more gives a lower-variance estimate).
        temperature: sampling temperature for pass@k (0.9 as in RL).
        greedy: also compute greedy top-1.
        max_new_tokens: completion length cap.
        batch_size: prompts per sampler call (each expands to n rows).
        seed: sampling seed.
        system_prompt: optional system turn before every prompt.
        max_length: cap on prompt + completion tokens (default: the model's context).
        sampled: compute pass@k (False: greedy top-1 only).
    """

    k: int = 8
    n: int | None = None
    temperature: float = 0.9
    greedy: bool = True
    max_new_tokens: int = 256
    batch_size: int = 8
    seed: int = 0
    system_prompt: str | None = None
    max_length: int | None = None
    sampled: bool = True

    def __post_init__(self) -> None:
        if self.n is None:
            self.n = self.k
        if self.k < 1 or self.n < self.k:
            raise ValueError(f"need 1 <= k <= n, got k={self.k}, n={self.n}")
        if self.temperature <= 0 and self.sampled:
            raise ValueError("pass@k needs temperature > 0 (use greedy top-1 for deterministic decoding)")


@dataclass
class EvalResult:
    task: str
    metrics: dict[str, Any]
    samples: list[dict[str, Any]]


def _judge(task: Task, completion: str, example: Mapping[str, Any], errors: list[str]) -> bool:
    try:
        return bool(task.top1(completion, example))
    except Exception as error:  # model output is untrusted; a metric bug must not kill the run
        errors.append(f"{type(error).__name__}: {error}"[:200])
        return False


def prepare_prompts(
    task: Task, examples: Sequence[Mapping[str, Any]], tokenizer: PreTrainedTokenizerBase,
    system_prompt: str | None, limit: int | None,
) -> tuple[list[int], list[str], list[list[int]], dict[str, int]]:
    """(indices of usable examples, their prompt texts, their prompt ids, skip counts)."""
    kept, texts, prompts, skipped = [], [], [], {"no_prompt": 0, "too_long": 0}
    for i, example in enumerate(examples):
        try:
            text = task.build_prompt(example)
        except (KeyError, TypeError, ValueError):
            skipped["no_prompt"] += 1
            continue
        ids = encode_prompt(tokenizer, text, system_prompt)
        if limit is not None and len(ids) > limit:
            skipped["too_long"] += 1
            continue
        kept.append(i)
        texts.append(text)
        prompts.append(ids)
    return kept, texts, prompts, skipped


def evaluate_task(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    examples: Sequence[Mapping[str, Any]],
    config: EvalConfig | None = None,
    all_finished: Callable[[bool], bool] | None = None,
) -> EvalResult:
    config = config or EvalConfig()
    limit = context_limit(model, config.max_length)
    prompt_limit = None if limit is None else limit - config.max_new_tokens
    kept, texts, prompts, skipped = prepare_prompts(task, examples, tokenizer, config.system_prompt, prompt_limit)
    errors: list[str] = []
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {
        "task": task.name, "n_examples": len(examples), "n_evaluated": len(kept), "skipped": skipped,
        "k": config.k, "n": config.n, "temperature": config.temperature, "max_new_tokens": config.max_new_tokens,
        "seed": config.seed,
    }

    def record(mode: str, completions: list[list[str]]) -> list[int]:
        correct_counts = []
        for index, text, outs in zip(kept, texts, completions):
            example = examples[index]
            right = [_judge(task, c, example, errors) for c in outs]
            correct_counts.append(sum(right))
            for j, (completion, ok) in enumerate(zip(outs, right)):
                rows.append({"task": task.name, "index": index, "origin": example.get("origin"), "mode": mode,
                             "sample": j, "prompt": text, "gold": example.get("answer"), "completion": completion,
                             "correct": ok})
        return correct_counts

    common = dict(max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, seed=config.seed,
                  all_finished=all_finished)
    if config.greedy:
        greedy = sample_completions(model, tokenizer, prompts, 1, 0.0, **common)
        counts = record("greedy", greedy)
        metrics["top1"] = sum(counts) / len(counts) if counts else None
    if config.sampled:
        sampled = sample_completions(model, tokenizer, prompts, config.n, config.temperature, **common)
        counts = record("sample", sampled)
        metrics[f"pass@{config.k}"] = mean_pass_at_k(counts, config.n, config.k)
        metrics["pass@1_sampled"] = mean_pass_at_k(counts, config.n, 1)
        metrics["solved_any"] = sum(c > 0 for c in counts) / len(counts) if counts else None
    metrics["metric_errors"] = len(errors)
    if errors:
        log.warning("%s: %d metric calls raised (first: %s); counted as wrong", task.name, len(errors), errors[0])
    return EvalResult(task.name, metrics, rows)
