"""LS_d: latent solvability as the log-prob effect size of gold over distractor answers.

The MiST paper's exact latent-solvability formula is not public; this is one of two
labelled stand-ins (the other, :mod:`mist_pl.diagnostics.ls_passk`, is pass@k of
sampling). It asks: before any RL, does the model already put more probability on the
right answer than on wrong ones, in the exact layout RL will reward?

For each example, prefix = the task prompt rendered as RL renders it (chat template,
generation prompt, the task's response prefix ``<think>``), then the rest of
``<think>{think}</think><answer>`` (``think`` empty by default:
a direct answer, no reasoning sampled). Scored span = ``{answer}</answer>``: the answer
tokens plus the closing tag, so "the answer ends here" counts too. The opening
``<answer>`` tag is in the prefix because it is the same for every candidate.
Distractors come from :mod:`mist_pl.diagnostics.distractors`. Per task:

* ``cohens_d``: gold scores (one per example) vs all distractor scores (pooled into one
  sample), Cohen's d with the pooled SD (:func:`~mist_pl.diagnostics.effect_sizes.cohens_d`);
* ``superiority``: P(gold > distractor) + 0.5 P(tie) over all (example, distractor) pairs;
* ``rank_biserial``: matched pairs (gold, mean of that example's distractors);
* ``gold_top1``: share of examples whose gold beats every distractor (strictly), next to
  ``chance_top1`` = mean of 1 / (1 + number of distractors).

An example is scored only if the gold and every distractor were scored; otherwise it is
skipped with the first failing side's status (``too_long``...).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.distractors import DEFAULT_NUM_DISTRACTORS, AnswerSet, answer_sets
from mist_pl.diagnostics.effect_sizes import cohens_d, rank_biserial, superiority
from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.scoring import OK, ScoringItem, score_items
from mist_pl.models.chat import has_chat_template, render_prompt
from mist_pl.tasks.answer import ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from mist_pl.tasks.registry import get_task

NAME = "ls_d"
NO_PROMPT = "no_prompt"


def answer_prefix(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, think: str = "",
    response_prefix: str = THINK_OPEN,
) -> str:
    """The rendered prompt, the response prefix the task opens the answer with, then the
    rest of a ``<think>{think}</think><answer>`` layout (what the prefix did not write)."""
    layout = f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}"
    rest = layout[len(response_prefix):] if layout.startswith(response_prefix) else layout
    return render_prompt(tokenizer, prompt, system, response_prefix) + rest


def answer_target(answer: str) -> str:
    return f"{answer}</answer>"


def task_metrics(gold: Sequence[float], distractors: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The per-task numbers above from aligned gold scores and distractor score lists."""
    if not gold:
        return {"n_items": 0}
    flat = [d for ds in distractors for d in ds]
    pairs_gold = [g for g, ds in zip(gold, distractors) for _ in ds]
    return {
        "n_items": len(gold),
        "n_distractors": len(flat),
        "mean_gold": float(np.mean(gold)),
        "mean_distractor": float(np.mean(flat)),
        "cohens_d": cohens_d(gold, flat),
        "superiority": superiority(pairs_gold, flat),
        "rank_biserial": rank_biserial(gold, [float(np.mean(ds)) for ds in distractors]),
        "gold_top1": float(np.mean([g > max(ds) for g, ds in zip(gold, distractors)])),
        "chance_top1": float(np.mean([1.0 / (1 + len(ds)) for ds in distractors])),
    }


def _score_task(model, tokenizer, task_name, examples, options) -> tuple[list[dict], dict, Counter]:
    task = get_task(task_name)
    sets = answer_sets(task_name, examples, options["num_distractors"], options["seed"])
    rows, items, spans = [], [], []  # spans: (row, first item, number of items)
    for index, (example, answers) in enumerate(zip(examples, sets)):
        row = {"task": task_name, "index": index, "origin": example.get("origin")}
        rows.append(row)
        if not isinstance(answers, AnswerSet):
            row["status"] = answers.reason
            continue
        try:
            prefix = answer_prefix(tokenizer, task.build_prompt(example), options["system_prompt"], options["think"],
                                   task.response_prefix)
        except (KeyError, TypeError, ValueError):
            row["status"] = NO_PROMPT
            continue
        row.update(gold=answers.gold, distractors=json.dumps(list(answers.distractors)))
        spans.append((row, len(items), 1 + len(answers.distractors)))
        items.extend(ScoringItem(prefix, answer_target(a)) for a in (answers.gold, *answers.distractors))
    scores = score_items(model, tokenizer, items, options["batch_size"], options["max_length"])
    gold, distractors = [], []
    for row, first, count in spans:
        mine = scores[first : first + count]
        row["status"] = next((s.status for s in mine if s.status != OK), OK)
        if row["status"] != OK:
            continue
        lps = [s.mean_logprob for s in mine]
        row.update(lp_gold=lps[0], lp_distractors=json.dumps(lps[1:]), margin=lps[0] - max(lps[1:]),
                   gold_top1=lps[0] > max(lps[1:]))
        gold.append(lps[0])
        distractors.append(lps[1:])
    return rows, task_metrics(gold, distractors), Counter(r["status"] for r in rows)


def run_ls_d(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    task_examples: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    num_distractors: int = DEFAULT_NUM_DISTRACTORS,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int | None = None,
    system_prompt: str | None = None,
    think: str = "",
) -> DiagnosticResult:
    """LS_d for every ``task name -> examples`` entry."""
    options = dict(num_distractors=num_distractors, seed=seed, batch_size=batch_size, max_length=max_length,
                   system_prompt=system_prompt, think=think)
    rows, metrics, counts = [], {}, {}
    for task_name, examples in task_examples.items():
        task_rows, metrics[task_name], task_counts = _score_task(model, tokenizer, task_name, examples, options)
        rows.extend(task_rows)
        counts[task_name] = {"read": len(task_rows), "scored": task_counts.get(OK, 0),
                             **{k: v for k, v in task_counts.items() if k != OK}}
    ds = [m["cohens_d"] for m in metrics.values() if m.get("cohens_d") is not None]
    top1 = [m["gold_top1"] for m in metrics.values() if m.get("gold_top1") is not None]
    metrics["macro"] = {"cohens_d": float(np.mean(ds)) if ds else None, "gold_top1": float(np.mean(top1)) if top1 else None}
    summary = {
        "diagnostic": "LS_d (latent solvability, log-prob variant)",
        "note": "the MiST paper's exact latent-solvability formula is not public; LS_d is a labelled stand-in",
        "metrics": metrics,
        "counts": counts,
        "definition": {
            "prefix": "chat-rendered task prompt + generation prompt + '<think>' + think + '</think><answer>'",
            "think": think,
            "chat_template": has_chat_template(tokenizer),
            "score": "mean token log-prob of '{answer}</answer>'",
            "cohens_d": "gold scores vs all distractor scores pooled, (mean_g - mean_d) / s_p, pooled SD with ddof=1",
            "superiority": "P(gold > distractor) + 0.5 P(tie) over all (example, distractor) pairs",
            "rank_biserial": "matched-pairs rank-biserial of gold vs the example's mean distractor score",
            "gold_top1": "share of examples whose gold scores strictly above every distractor",
            "num_distractors": num_distractors,
            "seed": seed,
        },
    }
    return DiagnosticResult(NAME, rows, summary)
