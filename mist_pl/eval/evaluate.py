"""Evaluate one task: greedy top-1 and sampled pass@k with the task's own top-1 metric,
each next to the share of valid answers.

* **top-1**: one greedy completion (temperature 0) per example, judged by
  ``task.top1(completion, example)``; the share of examples judged right.
* **valid**: the share of those greedy completions that close an answer block holding a
  well-typed answer, right or wrong (``task.valid``). Low top-1 with high ``valid``
  means the model answers in form but cannot solve the task; low ``valid`` means it
  cannot even format an answer. ``chance_top1`` (the task's, often None) is the top-1
  of a uniform guess among the allowed answers, for scale.
* **pass@k**: ``n >= k`` completions per example at ``temperature``; with ``c`` right,
  the unbiased estimator :func:`mist_pl.eval.pass_at_k.pass_at_k` per example, averaged.
  ``pass@1_sampled`` is the mean of ``c / n`` (the same estimator at k = 1);
  ``valid_sampled`` the share of all sampled completions that are valid answers.

Every sample row records ``correct`` and ``valid``. A task without a validity check
(``task.valid`` None) gets ``valid`` None in its rows and metrics.

Prompts are the task's ``build_prompt`` rendered as RL renders them
(:func:`mist_pl.models.chat.render_prompt`, ending with the task's response prefix,
``<think>``); completions are judged, and stored in the sample rows, with that prefix in
front. Examples are skipped and counted, never fatal, when no
prompt can be built (``no_prompt``) or prompt plus ``max_new_tokens`` exceeds the
model's context (``too_long``). A metric that raises on model output counts as wrong
and is counted in ``metric_errors``; a validity check that raises counts as invalid and
is counted in ``valid_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.eval.generation import sample_completions
from mist_pl.eval.pass_at_k import mean_pass_at_k
from mist_pl.models.chat import encode_prompt
from mist_pl.models.factory import context_limit
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
        response_prefix: text the answer starts with, already written (None: the task's).
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
    response_prefix: str | None = None

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


def _judge(
    check: Callable[[Any, Mapping[str, Any]], bool], completion: str, example: Mapping[str, Any], errors: list[str]
) -> bool:
    """``check(completion, example)`` as a bool; False (and recorded in ``errors``) if it raises."""
    try:
        return bool(check(completion, example))
    except Exception as error:  # model output is untrusted; a metric bug must not kill the run
        errors.append(f"{type(error).__name__}: {error}"[:200])
        return False


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def prepare_prompts(
    task: Task, examples: Sequence[Mapping[str, Any]], tokenizer: PreTrainedTokenizerBase,
    system_prompt: str | None, limit: int | None, response_prefix: str = "",
) -> tuple[list[int], list[str], list[list[int]], dict[str, int]]:
    """(indices of usable examples, their prompt texts, their prompt ids, skip counts)."""
    kept, texts, prompts, skipped = [], [], [], {"no_prompt": 0, "too_long": 0}
    for i, example in enumerate(examples):
        try:
            text = task.build_prompt(example)
        except (KeyError, TypeError, ValueError):
            skipped["no_prompt"] += 1
            continue
        ids = encode_prompt(tokenizer, text, system_prompt, response_prefix)
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
    limit = context_limit(model, max_length=config.max_length)
    prompt_limit = None if limit is None else limit - config.max_new_tokens
    prefix = task.response_prefix if config.response_prefix is None else config.response_prefix
    kept, texts, prompts, skipped = prepare_prompts(task, examples, tokenizer, config.system_prompt, prompt_limit,
                                                    prefix)
    errors: list[str] = []
    valid_errors: list[str] = []
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {
        "task": task.name, "n_examples": len(examples), "n_evaluated": len(kept), "skipped": skipped,
        "k": config.k, "n": config.n, "temperature": config.temperature, "max_new_tokens": config.max_new_tokens,
        "seed": config.seed, "chance_top1": task.chance_top1,
    }

    def record(mode: str, completions: list[list[str]]) -> tuple[list[int], list[bool]]:
        """Judge and store every completion: (right per example, valid flag per completion)."""
        correct_counts, valid_flags = [], []
        for index, text, outs in zip(kept, texts, completions):
            example = examples[index]
            outs = [prefix + c for c in outs]
            right = [_judge(task.top1, c, example, errors) for c in outs]
            valid = [None if task.valid is None else _judge(task.valid, c, example, valid_errors) for c in outs]
            correct_counts.append(sum(right))
            valid_flags += [v for v in valid if v is not None]
            for j, (completion, ok, is_valid) in enumerate(zip(outs, right, valid)):
                rows.append({"task": task.name, "index": index, "origin": example.get("origin"), "mode": mode,
                             "sample": j, "prompt": text, "gold": example.get("answer"), "completion": completion,
                             "correct": ok, "valid": is_valid})
        return correct_counts, valid_flags

    common = dict(max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, seed=config.seed,
                  all_finished=all_finished)
    if config.greedy:
        greedy = sample_completions(model, tokenizer, prompts, 1, 0.0, **common)
        counts, valid = record("greedy", greedy)
        metrics["top1"] = sum(counts) / len(counts) if counts else None
        metrics["valid"] = _share(valid)
    if config.sampled:
        sampled = sample_completions(model, tokenizer, prompts, config.n, config.temperature, **common)
        counts, valid = record("sample", sampled)
        metrics[f"pass@{config.k}"] = mean_pass_at_k(counts, config.n, config.k)
        metrics["pass@1_sampled"] = mean_pass_at_k(counts, config.n, 1)
        metrics["valid_sampled"] = _share(valid)
        metrics["solved_any"] = sum(c > 0 for c in counts) / len(counts) if counts else None
    metrics["metric_errors"] = len(errors)
    metrics["valid_errors"] = len(valid_errors)
    if errors:
        log.warning("%s: %d metric calls raised (first: %s); counted as wrong", task.name, len(errors), errors[0])
    if valid_errors:
        log.warning("%s: %d validity checks raised (first: %s); counted as invalid", task.name, len(valid_errors),
                    valid_errors[0])
    return EvalResult(task.name, metrics, rows)
