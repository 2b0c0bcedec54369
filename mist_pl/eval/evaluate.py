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
  the unbiased estimator :func:`mist_pl.eval.stats.pass_at_k` per example, averaged.
  ``pass@1_sampled`` is the mean of ``c / n`` (the same estimator at k = 1);
  ``valid_sampled`` the share of all sampled completions that are valid answers.

* **further rates** a task declares (:attr:`Task.metrics`, e.g. cond_mat_gen's
  ``novel_top1`` and ``source_top1``), on the greedy completions, with intervals.

Every sample row records ``correct`` and ``valid`` (and each further rate) and the
example's plain columns (``example``), so the file alone can be judged again. A task
without a validity check (``task.valid`` None) gets ``valid`` None in its rows and
metrics. What no model is needed for, the no-model baselines of the same examples, is
:mod:`mist_pl.eval.baselines` (the CLI prints the best beside the model).

Prompts are the task's ``build_prompt`` rendered as RL renders them
(:func:`mist_pl.models.chat.render_prompt`, ending with the task's response prefix,
``<think>``); completions are judged, and stored in the sample rows, with that prefix in
front. Examples are skipped and counted, never fatal, when no
prompt can be built (``no_prompt``) or prompt plus ``max_new_tokens`` exceeds the
model's context (``too_long``). A metric that raises on model output counts as wrong
and is counted in ``metric_errors``; a validity check that raises counts as invalid and
is counted in ``valid_errors``.

Rates (top-1, valid) come with Wilson 95% intervals (``top1_ci``, ``valid_ci``: [lo, hi]),
and ``protocol`` / ``protocol_settings`` record how the numbers were produced.

**Protocols.** ``EvalConfig.protocol`` picks the procedure:

* ``default`` (above): greedy top-1 and sampled pass@k, strict scoring by ``task.top1``.
* ``mist``: the MiST reference's reaction-naming evaluation
  (:mod:`mist_pl.eval.mist_protocol`): one completion per example sampled at temperature
  0.8, top-p 0.8, top-k 20, up to 4,096 new tokens; a completion without a complete
  answer block is sampled once more and the retry is what counts. Reports
  ``top1_strict`` (``task.top1``) and ``top1_substring`` (the reference's substring
  rule), ``valid``, each with a Wilson interval, and ``retried`` (examples sampled
  twice), ``answered_after_retry`` and ``no_answer`` (final completions still without an
  answer block). ``k``, ``n``, ``greedy`` and ``sampled`` do not apply. The new-token
  budget is ``max_new_tokens`` (4,096 unless set), capped at the context left by the
  longest prompt; a prompt that would leave fewer than ``min(max_new_tokens, context //
  2)`` tokens is skipped as ``too_long``, so one long prompt cannot shrink every
  completion. Sample rows have ``mode`` "mist", ``attempt`` (0, or 1 for the retry),
  ``retried`` (whether the example was sampled again), ``final`` (the scored
  completion), ``correct`` (strict), ``correct_substring`` and ``valid``.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.eval import mist_protocol
from mist_pl.eval.generation import sample_completions
from mist_pl.eval.mist_protocol import MIST, has_answer, substring_correct
from mist_pl.eval.stats import mean_pass_at_k, wilson_interval
from mist_pl.models.chat import encode_prompt
from mist_pl.models.factory import context_limit
from mist_pl.tasks.registry import Task

log = logging.getLogger(__name__)


PROTOCOLS = ("default", mist_protocol.NAME)


@dataclass
class EvalConfig:
    """How a task is evaluated.

    Args:
        k: pass@k's k (8, the GRPO group size in the MiST recipes).
        n: samples per example for pass@k (default k; more gives a lower-variance estimate).
        temperature: sampling temperature for pass@k (default 0.9, as in RL; the mist
            protocol's is 0.8 and cannot be changed).
        greedy: also compute greedy top-1.
        max_new_tokens: completion length cap (default 256; 4,096 for the mist protocol,
            which caps it at the model's context).
        batch_size: prompts per sampler call (each expands to n rows).
        seed: sampling seed.
        system_prompt: optional system turn before every prompt.
        max_length: cap on prompt + completion tokens (default: the model's context).
        sampled: compute pass@k (False: greedy top-1 only).
        response_prefix: text the answer starts with, already written (None: the task's).
        protocol: ``default`` (greedy top-1, pass@k) or ``mist`` (the MiST reference's
            reaction-naming evaluation; see the module docstring).
        top_p: nucleus threshold for sampling (default 1.0, off; mist: 0.8, fixed).
        top_k: top-k filter for sampling (default 0, off; mist: 20, fixed).
    """

    k: int = 8
    n: int | None = None
    temperature: float | None = None
    greedy: bool = True
    max_new_tokens: int | None = None
    batch_size: int = 8
    seed: int = 0
    system_prompt: str | None = None
    max_length: int | None = None
    sampled: bool = True
    response_prefix: str | None = None
    protocol: str = "default"
    top_p: float | None = None
    top_k: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol={self.protocol!r} is not one of {PROTOCOLS}")
        if self.protocol == mist_protocol.NAME:
            for name in ("temperature", "top_p", "top_k"):
                fixed, given = getattr(MIST, name), getattr(self, name)
                if given is not None and given != fixed:
                    raise ValueError(f"the mist protocol samples with the reference's {name}={fixed}; got {given} "
                                     "(use the default protocol for other settings)")
                setattr(self, name, fixed)
            if self.max_new_tokens is None:
                self.max_new_tokens = MIST.max_new_tokens
        else:
            self.temperature = 0.9 if self.temperature is None else self.temperature
            self.top_p = 1.0 if self.top_p is None else self.top_p
            self.top_k = 0 if self.top_k is None else self.top_k
            self.max_new_tokens = 256 if self.max_new_tokens is None else self.max_new_tokens
        if self.n is None:
            self.n = self.k
        if self.k < 1 or self.n < self.k:
            raise ValueError(f"need 1 <= k <= n, got k={self.k}, n={self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be at least 1")
        if self.temperature <= 0 and self.sampled and self.protocol == "default":
            raise ValueError("pass@k needs temperature > 0 (use greedy top-1 for deterministic decoding)")

    def settings(self) -> dict[str, Any]:
        """What produced the numbers, as recorded in the metrics (``protocol_settings``)."""
        common = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                  "max_new_tokens": self.max_new_tokens, "seed": self.seed, "batch_size": self.batch_size,
                  "system_prompt": self.system_prompt, "max_length": self.max_length}
        if self.protocol == mist_protocol.NAME:
            return {**common, "samples_per_example": 1, "retries": MIST.retries,
                    "retry_seed": self.seed + mist_protocol.RETRY_SEED_OFFSET, "retry_rule": mist_protocol.RETRY_RULE,
                    "top1_strict": "task.top1 (exact class after normalisation)",
                    "top1_substring": mist_protocol.SUBSTRING_RULE,
                    "reference_test_size": MIST.reference_test_size}
        return {**common, "greedy": self.greedy, "sampled": self.sampled, "k": self.k, "n": self.n,
                "top1": "task.top1 on the greedy completion"}


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


def _ci(flags: Sequence[bool]) -> list[float | None]:
    """Wilson 95% interval of the share of true flags, as [lo, hi] ([None, None] for none)."""
    return list(wilson_interval(sum(flags), len(flags)))


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
    prefix = task.response_prefix if config.response_prefix is None else config.response_prefix
    if config.protocol == mist_protocol.NAME:
        return _evaluate_mist(model, tokenizer, task, examples, config, all_finished, prefix, limit)
    prompt_limit = None if limit is None else limit - config.max_new_tokens
    kept, texts, prompts, skipped = prepare_prompts(task, examples, tokenizer, config.system_prompt, prompt_limit,
                                                    prefix)
    errors: list[str] = []
    valid_errors: list[str] = []
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {
        "task": task.name, "n_examples": len(examples), "n_evaluated": len(kept), "skipped": skipped,
        "k": config.k, "n": config.n, "temperature": config.temperature, "max_new_tokens": config.max_new_tokens,
        "seed": config.seed, "chance_top1": task.chance_top1,
        "protocol": config.protocol, "protocol_settings": config.settings(),
    }

    extra: dict[str, list[bool]] = {name: [] for name in task.metrics}

    def record(mode: str, completions: list[list[str]]) -> tuple[list[int], list[bool]]:
        """Judge and store every completion: (right per example, valid flag per completion);
        the task's further metrics (:attr:`Task.metrics`) of greedy completions into ``extra``."""
        correct_counts, valid_flags = [], []
        for index, text, outs in zip(kept, texts, completions):
            example = examples[index]
            outs = [prefix + c for c in outs]
            right = [_judge(task.top1, c, example, errors) for c in outs]
            valid = [None if task.valid is None else _judge(task.valid, c, example, valid_errors) for c in outs]
            correct_counts.append(sum(right))
            valid_flags += [v for v in valid if v is not None]
            judged = {name: [_judge(fn, c, example, errors) for c in outs] for name, fn in task.metrics.items()}
            if mode == "greedy":
                for name, flags in judged.items():
                    extra[name] += flags
            for j, (completion, ok, is_valid) in enumerate(zip(outs, right, valid)):
                rows.append({"task": task.name, "index": index, "origin": example.get("origin"), "mode": mode,
                             "sample": j, "prompt": text, "gold": example.get("answer"), "completion": completion,
                             "correct": ok, "valid": is_valid, **{name: flags[j] for name, flags in judged.items()},
                             "example": example_columns(example)})
        return correct_counts, valid_flags

    common = dict(max_new_tokens=config.max_new_tokens, batch_size=config.batch_size, seed=config.seed,
                  all_finished=all_finished)
    if config.greedy:
        greedy = sample_completions(model, tokenizer, prompts, 1, 0.0, **common)
        counts, valid = record("greedy", greedy)
        metrics["top1"] = sum(counts) / len(counts) if counts else None
        metrics["top1_ci"] = _ci([c > 0 for c in counts])
        metrics["valid"] = _share(valid)
        metrics["valid_ci"] = _ci(valid)
        for name, flags in extra.items():
            metrics[name] = _share(flags)
            metrics[f"{name}_ci"] = _ci(flags)
    if config.sampled:
        sampled = sample_completions(model, tokenizer, prompts, config.n, config.temperature, top_p=config.top_p,
                                     top_k=config.top_k, **common)
        counts, valid = record("sample", sampled)
        metrics[f"pass@{config.k}"] = mean_pass_at_k(counts, config.n, config.k)
        metrics["pass@1_sampled"] = mean_pass_at_k(counts, config.n, 1)
        metrics["valid_sampled"] = _share(valid)
        metrics["solved_any"] = sum(c > 0 for c in counts) / len(counts) if counts else None
    _report_errors(task.name, metrics, errors, valid_errors)
    return EvalResult(task.name, metrics, rows)


def example_columns(example: Mapping[str, Any]) -> dict[str, Any]:
    """The example's plain columns, stored with each sample row so that a report can judge
    the saved completion again from the file alone (with the rules of its day or today's)."""
    return {k: v for k, v in example.items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def _report_errors(task_name: str, metrics: dict[str, Any], errors: list[str], valid_errors: list[str]) -> None:
    metrics["metric_errors"] = len(errors)
    metrics["valid_errors"] = len(valid_errors)
    if errors:
        log.warning("%s: %d metric calls raised (first: %s); counted as wrong", task_name, len(errors), errors[0])
    if valid_errors:
        log.warning("%s: %d validity checks raised (first: %s); counted as invalid", task_name, len(valid_errors),
                    valid_errors[0])


def mist_budget(requested: int, limit: int | None, prompt_lengths: Sequence[int]) -> int:
    """The mist protocol's new-token budget: ``requested``, capped at the context that the
    longest prompt leaves (``limit`` None: no cap)."""
    if limit is None or not prompt_lengths:
        return requested
    return max(1, min(requested, limit - max(prompt_lengths)))


def _evaluate_mist(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, task: Task, examples: Sequence[Mapping[str, Any]],
    config: EvalConfig, all_finished: Callable[[bool], bool] | None, prefix: str, limit: int | None,
) -> EvalResult:
    """The MiST reference's protocol (module docstring; :mod:`mist_pl.eval.mist_protocol`)."""
    requested = config.max_new_tokens
    # A prompt must leave min(requested, half the context) new tokens, else it is skipped.
    prompt_limit = None if limit is None else limit - min(requested, max(1, limit // 2))
    kept, texts, prompts, skipped = prepare_prompts(task, examples, tokenizer, config.system_prompt, prompt_limit,
                                                    prefix)
    max_new = mist_budget(requested, limit, [len(p) for p in prompts])
    if max_new < requested:
        log.info("%s: mist protocol: %d new tokens requested, %d fit the context (%d) after the longest prompt",
                 task.name, requested, max_new, limit)
    common = dict(max_new_tokens=max_new, batch_size=config.batch_size, all_finished=all_finished,
                  top_p=config.top_p, top_k=config.top_k)

    # attempts[i]: example i's completions in order; the last one is scored.
    first = sample_completions(model, tokenizer, prompts, 1, config.temperature, seed=config.seed, **common)
    attempts = [[prefix + outs[0]] for outs in first]
    pending = [i for i, tries in enumerate(attempts) if not has_answer(tries[-1])]
    retried = set(pending)
    for attempt in range(1, MIST.retries + 1):
        if not pending:
            break
        seed = config.seed + attempt * mist_protocol.RETRY_SEED_OFFSET
        again = sample_completions(model, tokenizer, [prompts[i] for i in pending], 1, config.temperature, seed=seed,
                                   **common)
        for i, outs in zip(pending, again):
            attempts[i].append(prefix + outs[0])
        pending = [i for i in pending if not has_answer(attempts[i][-1])]

    errors: list[str] = []
    valid_errors: list[str] = []
    rows: list[dict[str, Any]] = []
    strict, substring, valid = [], [], []
    for position, (index, text, tries) in enumerate(zip(kept, texts, attempts)):
        example = examples[index]
        for attempt, completion in enumerate(tries):
            ok = _judge(task.top1, completion, example, errors)
            ok_substring = _judge(substring_correct, completion, example, errors)
            is_valid = None if task.valid is None else _judge(task.valid, completion, example, valid_errors)
            final = attempt == len(tries) - 1
            if final:
                strict.append(ok)
                substring.append(ok_substring)
                if is_valid is not None:
                    valid.append(is_valid)
            rows.append({"task": task.name, "index": index, "origin": example.get("origin"), "mode": "mist",
                         "sample": 0, "attempt": attempt, "retried": position in retried, "final": final,
                         "prompt": text, "gold": example.get("answer"), "completion": completion,
                         "has_answer": has_answer(completion), "correct": ok, "correct_substring": ok_substring,
                         "valid": is_valid})
    finals = [tries[-1] for tries in attempts]
    metrics: dict[str, Any] = {
        "task": task.name, "n_examples": len(examples), "n_evaluated": len(kept), "skipped": skipped,
        "protocol": config.protocol, "protocol_settings": {**config.settings(), "max_new_tokens_requested": requested,
                                                           "max_new_tokens": max_new, "context": limit},
        "temperature": config.temperature, "top_p": config.top_p, "top_k": config.top_k,
        "max_new_tokens": max_new, "max_new_tokens_requested": requested, "seed": config.seed,
        "chance_top1": task.chance_top1,
        "top1_strict": _share(strict), "top1_strict_ci": _ci(strict),
        "top1_substring": _share(substring), "top1_substring_ci": _ci(substring),
        "valid": _share(valid), "valid_ci": _ci(valid),
        "retried": len(retried), "retried_rate": len(retried) / len(kept) if kept else None,
        "answered_after_retry": sum(has_answer(attempts[i][-1]) for i in retried),
        "no_answer": sum(not has_answer(c) for c in finals),
    }
    _report_errors(task.name, metrics, errors, valid_errors)
    return EvalResult(task.name, metrics, rows)


def write_samples(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Every sample row as one JSON line; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path
