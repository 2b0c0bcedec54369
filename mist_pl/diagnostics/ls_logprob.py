"""LS_d: latent solvability as the prior-corrected log-prob of gold over distractor answers.

The MiST paper and its reference code define no formula for latent solvability (the paper
names the property; neither gives a computation), so this is one of two labelled stand-ins
(the other, :mod:`mist_pl.diagnostics.ls_passk`, is pass@k of sampling). It asks: before
any RL, does the model already put more probability on the right answer than on wrong
ones *because of the input*, in the layout RL will reward?

**Context.** For each example the model is given the task prompt as RL renders it (chat
template, generation prompt, the task's response prefix ``<think>``), then a reasoning
``r``, then ``</think><answer>``. Two ways to fill ``r`` (``context``):

* ``"generated"`` (default): the model writes its own reasoning greedily, at most
  ``max_think_tokens`` tokens (default 192), stopping at ``</think>`` or EOS; the text
  before ``</think>`` is ``r``. This is the context SFT trains answers in (its traces reason
  inside ``<think>`` first) and the one RL samples in. Gold and every distractor of one
  example are scored after the *same* reasoning.
* ``"fixed"``: ``r`` is the given text (``think``, empty by default: ``<think></think>``,
  a direct answer). Cheaper (no generation), but no arm is trained to answer after an empty
  reasoning, so it measures something else: what the model would answer with no thought.

**Score.** ``s(a | x) = sum of log p(token | everything before it)`` over the tokens of
``{a}</answer>`` (the answer plus the closing tag, so "the answer ends here" counts too),
teacher-forced after that context: the log-probability of the whole answer. Not the
per-token mean, which earlier versions used: a mean favours whichever answer has the most
easy tokens (base SmolLM2 on 40 class-balanced reactions, empty reasoning: the longest class
name, 14 tokens, is the top class for 33 of 40 under the mean), and the probability of a
right answer, the thing RL needs, is the sum.

**Prior correction** (the headline, top-level keys): ``ls(a, x) = s(a | x) - s(a | x0)``,
the same score with the example's input replaced by a neutral one ``x0``
(:func:`neutral_example`: an empty reaction ``>>`` for reaction tasks, an empty name or
SMILES, ``>>`` for every option of a multiple-choice question). Whatever the model prefers
about an answer regardless of the input (a class it always names, a short name, a letter)
appears in both terms and cancels; what is left is how much the input moved the answer's
log-probability, a pointwise mutual information with ``x0`` standing in for "no input".
This is the "domain-conditional PMI" of Holtzman et al. (2021, *Surface Form Competition*)
and the content-free input of Zhao et al. (2021, *Calibrate Before Use*), applied per
answer. It cancels *additive* per-answer biases exactly. It does not cancel a preference
that appears only when some input is there: base SmolLM2 on 40 class-balanced reactions
(fixed context) ranks C-C Coupling first for 40 of 40 by the raw sum and Deprotection first
for 28 of 40 after the correction (the spread of the class means falls from SD 2.6 to 0.65
nats, not to 0; one class's score varies by SD 0.43 across reactions). ``centered`` below
removes that too.

In ``"generated"`` mode ``x0`` gets its own greedy reasoning, generated from the neutral
prompt (one generation per distinct neutral prompt: one per task for most tasks), not
``x``'s reasoning: the reasoning the model derives from ``x`` is part of what ``x`` tells
it and stays on the ``x`` side only; reusing it would subtract the very information the
reasoning carries (a model that names the gold class in its reasoning and copies it would
score 0), and would put a reasoning about a reaction after a prompt that shows none.

**Centered** (``centered``; closed answer sets only: ``rxn_naming``, ``rxn_mcq``,
``rxn_true_false``): ``s(a | x_i) - mean_{j != i} s(a | x_j)``, each answer's raw score
minus its mean over the *other* examples of the set, i.e. the marginal over the set's real
inputs instead of an empty one. No extra forward pass (every example scores every answer).
It cancels any preference that does not depend on *which* input (the class means' spread
is exactly 0); the price: on an uneven set it also removes what the gold class's frequency
earns (a one-class set scores 0 whatever the model knows), so measure on a class-balanced
set. ``raw_sum`` reports the uncorrected ``s(a | x)``.

Distractors come from :mod:`mist_pl.diagnostics.distractors`. Per task, for each of the
three scores (the corrected one at the top level, ``raw_sum``, ``centered``), with scores
rounded to 1e-9 nats first (:func:`snap`: smaller differences are float rounding):

* ``cohens_d``: gold scores (one per example) vs all distractor scores (pooled into one
  sample), Cohen's d with the pooled SD (:func:`~mist_pl.diagnostics.effect_sizes.cohens_d`);
  0 when every score is the same (no preference), None when only the spread is 0;
* ``superiority``: P(gold > distractor) + 0.5 P(tie) over all (example, distractor) pairs;
* ``rank_biserial``: matched pairs (gold, mean of that example's distractors); 0 when
  every pair ties;
* ``gold_top1`` (the "rank"): share of examples whose gold is the top answer, a tie at the
  top shared (gold tied with m distractors counts 1 / (m + 1)), next to ``chance_top1`` =
  mean of 1 / (1 + number of distractors). A model that cannot tell the answers apart
  scores exactly chance.

A model whose score of an answer does not depend on the input (a class prior, a length
preference, plus any shift common to all answers of an example) gets d = 0, superiority
0.5 and ``gold_top1`` = chance on the corrected and the centered scores
(``tests/diagnostics/test_latent_solvability.py``). An example is scored only if the gold
and every distractor were scored in both contexts; otherwise it is skipped with the first
failing status (``too_long``...).

Cost, measured on one CPU thread with the embedded tiny model (random weights, so the
reasoning always runs to the cap) on 50 reaction-naming examples, batch 10: 4.0 s fixed,
17.8 s generated (192 tokens; 13.1 s with 96).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from mist_pl.diagnostics.distractors import CLOSED_TASKS, DEFAULT_NUM_DISTRACTORS, AnswerSet, answer_sets
from mist_pl.diagnostics.effect_sizes import cohens_d, pooled_std, rank_biserial, superiority
from mist_pl.diagnostics.report import DiagnosticResult
from mist_pl.diagnostics.scoring import OK, TOO_LONG, ScoringItem, SpanScore, score_items
from mist_pl.models.chat import has_chat_template, render_prompt
from mist_pl.tasks.answer import ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from mist_pl.tasks.registry import get_task

NAME = "ls_d"
NO_PROMPT = "no_prompt"

CONTEXTS = ("generated", "fixed")
DEFAULT_CONTEXT = "generated"
DEFAULT_MAX_THINK_TOKENS = 192  # the tiny model's reaction-naming SFT traces: median 84 tokens, 99th percentile 182
DEFAULT_GENERATION_BATCH_SIZE = 32

# Scores items (one SpanScore per item, in order); default: the model via score_items.
Scorer = Callable[[Sequence[ScoringItem]], Sequence[SpanScore]]
# Rendered texts that end where the reasoning starts -> the model's continuation of each
# (None: it could not be generated, e.g. too long for the context).
Reasoner = Callable[[Sequence[str]], Sequence["str | None"]]

# The neutral input per task: the fields that carry the input, and what they become.
EMPTY_REACTION = ">>"
NEUTRAL_FIELDS: dict[str, dict[str, Any]] = {
    "rxn_naming": {"reaction": EMPTY_REACTION},
    "rxn_true_false": {"reaction": EMPTY_REACTION},
    "rxn_prediction": {"reactants": ""},
    "iupac_to_smiles": {"name": ""},
    "canonicalization": {"smiles": ""},
}
NOT_INPUT = frozenset({"answer", "origin", "task", "source", "id"})
_TOLERANCE = 1e-12  # relative: spreads and differences below it are float rounding
# Scores are compared after rounding to 1e-9 nats: float32 log-probs carry about 1e-7
# relative precision, so smaller differences are float rounding (of a subtraction or a
# mean), and a model that scores two answers the same then ties instead of winning by 1e-16.
DECIMALS = 9


def snap(values: Sequence[float]) -> list[float]:
    return [round(float(v), DECIMALS) for v in values]


def neutral_example(task_name: str, example: Mapping[str, Any]) -> dict[str, Any]:
    """``example`` with its input replaced by a neutral one (see :data:`NEUTRAL_FIELDS`):
    ``rxn_mcq``'s options each become ``>>`` (as many as there were, so the letters are
    the same); a task not listed gets every text field except the answer and bookkeeping
    fields emptied, and every list of texts replaced by as many empty texts."""
    neutral = dict(example)
    if task_name in NEUTRAL_FIELDS:
        neutral.update(NEUTRAL_FIELDS[task_name])
    elif task_name == "rxn_mcq":
        neutral["options"] = [EMPTY_REACTION] * len(example.get("options") or ())
    else:
        for key, value in example.items():
            if key in NOT_INPUT:
                continue
            if isinstance(value, str):
                neutral[key] = ""
            elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                neutral[key] = [""] * len(value)
    return neutral


def answer_prefix(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, think: str = "",
    response_prefix: str = THINK_OPEN,
) -> str:
    """The rendered prompt, the response prefix the task opens the answer with, then the
    rest of a ``<think>{think}</think><answer>`` layout (what the prefix did not write)."""
    layout = f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}"
    rest = layout[len(response_prefix):] if layout.startswith(response_prefix) else layout
    return render_prompt(tokenizer, prompt, system, response_prefix) + rest


def reasoning_start(
    tokenizer: PreTrainedTokenizerBase, prompt: str, system: str | None = None, response_prefix: str = THINK_OPEN,
) -> tuple[str, str]:
    """(the text the model continues with its reasoning, the part of the reasoning the
    response prefix already wrote): the rendered prompt up to and including ``<think>``.
    ``answer_prefix(..., think=written + generated)`` then rebuilds the same text."""
    rendered = render_prompt(tokenizer, prompt, system, response_prefix)
    if response_prefix.startswith(THINK_OPEN):
        return rendered, response_prefix[len(THINK_OPEN):]
    if THINK_OPEN.startswith(response_prefix):
        return rendered + THINK_OPEN[len(response_prefix):], ""
    return rendered + THINK_OPEN, ""


def cut_reasoning(generated: str) -> str:
    """The generated text up to the first ``</think>`` (all of it when there is none)."""
    return generated.split(THINK_CLOSE, 1)[0]


def answer_target(answer: str) -> str:
    return f"{answer}</answer>"


def top1_credit(gold: float, distractors: Sequence[float]) -> float:
    """1 when gold is strictly above every distractor, 1 / (m + 1) when it ties with m of
    them at the top, else 0: a model that scores every answer the same earns chance."""
    best = max(distractors)
    if gold != best:
        return float(gold > best)
    return 1.0 / (1 + sum(d == best for d in distractors))


def _scale(values: Sequence[float]) -> float:
    return max([1.0, *(abs(v) for v in values)])


def _ls_cohens_d(gold: Sequence[float], flat: Sequence[float]) -> float | None:
    """Cohen's d, and 0 (no preference) when every score is the same up to rounding."""
    s_p, tolerance = pooled_std(gold, flat), _TOLERANCE * _scale([*gold, *flat])
    if s_p is not None and s_p <= tolerance:
        return 0.0 if abs(float(np.mean(gold)) - float(np.mean(flat))) <= tolerance else None
    return cohens_d(gold, flat)


def task_metrics(gold: Sequence[float], distractors: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The per-task numbers above from aligned gold scores and distractor score lists."""
    if not gold:
        return {"n_items": 0}
    flat = [d for ds in distractors for d in ds]
    pairs_gold = [g for g, ds in zip(gold, distractors) for _ in ds]
    mean_distractors = [float(np.mean(ds)) for ds in distractors]
    r = rank_biserial(gold, mean_distractors)
    if r is None:  # every matched pair ties: no preference
        r = 0.0
    return {
        "n_items": len(gold),
        "n_distractors": len(flat),
        "mean_gold": float(np.mean(gold)),
        "mean_distractor": float(np.mean(flat)),
        "cohens_d": _ls_cohens_d(gold, flat),
        "superiority": superiority(pairs_gold, flat),
        "rank_biserial": r,
        "gold_top1": float(np.mean([top1_credit(g, ds) for g, ds in zip(gold, distractors)])),
        "chance_top1": float(np.mean([1.0 / (1 + len(ds)) for ds in distractors])),
    }


def prior_corrected(raw: Sequence[float], prior: Sequence[float]) -> list[float]:
    """``s(a | x) - s(a | x0)`` element by element, rounded by :func:`snap`."""
    if len(raw) != len(prior):
        raise ValueError(f"{len(raw)} raw scores but {len(prior)} prior scores")
    return snap([r - p for r, p in zip(raw, prior)])


def centered_scores(candidates: Sequence[Sequence[str]], scores: Sequence[Sequence[float]]) -> list[list[float]] | None:
    """Each score minus the mean score of the same answer in the *other* examples
    (leave-one-out): ``s(a | x_i) - mean_{j != i} s(a | x_j)``, rounded by :func:`snap`.
    None when some answer is a candidate of one example only (no reference)."""
    by_answer: dict[str, list[float]] = {}
    for answers, values in zip(candidates, scores, strict=True):
        for answer, value in zip(answers, values, strict=True):
            by_answer.setdefault(answer, []).append(value)
    totals = {answer: (sum(values), len(values)) for answer, values in by_answer.items()}
    if any(n < 2 for _, n in totals.values()):
        return None
    return [snap([value - (totals[a][0] - value) / (totals[a][1] - 1) for a, value in zip(answers, values)])
            for answers, values in zip(candidates, scores)]


def ls_task_metrics(
    raw_gold: Sequence[float], raw_distractors: Sequence[Sequence[float]],
    prior_gold: Sequence[float], prior_distractors: Sequence[Sequence[float]],
    candidates: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """:func:`task_metrics` of the prior-corrected scores (top level), of the raw sums
    under ``raw_sum`` and, given each example's candidate answers (gold first) of a closed
    answer set, of the :func:`centered_scores` of the raw sums under ``centered``; the
    inputs are aligned (one entry per scored example)."""
    gold = prior_corrected(raw_gold, prior_gold)
    distractors = [prior_corrected(r, p) for r, p in zip(raw_distractors, prior_distractors, strict=True)]
    metrics = task_metrics(gold, distractors)
    if gold:
        metrics["raw_sum"] = task_metrics(snap(raw_gold), [snap(ds) for ds in raw_distractors])
    if gold and candidates is not None:
        centered = centered_scores(candidates, [[g, *ds] for g, ds in zip(raw_gold, raw_distractors)])
        if centered is not None:
            metrics["centered"] = task_metrics([c[0] for c in centered], [c[1:] for c in centered])
    return metrics


# ----------------------------------------------------------------------------- the model side


def model_scorer(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, batch_size: int = 16,
                 max_length: int | None = None) -> Scorer:
    return lambda items: score_items(model, tokenizer, items, batch_size, max_length)


def greedy_reasoner(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_think_tokens: int = DEFAULT_MAX_THINK_TOKENS,
    batch_size: int = DEFAULT_GENERATION_BATCH_SIZE, max_length: int | None = None,
    all_finished: Callable[[bool], bool] | None = None,
) -> Reasoner:
    """Greedy continuations (at most ``max_think_tokens``, stopping at ``</think>`` or EOS)
    with the RL stage's own sampler; a text whose tokens plus ``max_think_tokens`` exceed
    the context gets None. Deterministic: no random numbers are drawn."""
    # Inside: the sampler pulls in the RL stack, which the fixed context does not need.
    from mist_pl.models.chat import left_pad
    from mist_pl.models.factory import context_limit
    from mist_pl.rl.sampling import HFSampler, SamplingConfig

    def reason(texts: Sequence[str]) -> list[str | None]:
        limit = context_limit(model, max_length=max_length)
        sampler = HFSampler(SamplingConfig(max_new_tokens=max_think_tokens, temperature=0.0,
                                           stop_strings=[THINK_CLOSE]), tokenizer)
        device = next(model.parameters()).device
        out: list[str | None] = [None] * len(texts)
        runnable = []
        for i, text in enumerate(texts):
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if ids and (limit is None or len(ids) + max_think_tokens <= limit):
                runnable.append((i, ids))
        for start in range(0, len(runnable), batch_size):
            chunk = runnable[start : start + batch_size]
            ids, mask = left_pad([ids for _, ids in chunk], sampler.pad_id)
            samples = sampler.generate(model, ids.to(device), mask.to(device), 1, all_finished=all_finished)
            lengths = samples.completion_lengths.tolist()
            decoded = tokenizer.batch_decode([row[:n] for row, n in zip(samples.completion_ids.tolist(), lengths)],
                                             skip_special_tokens=True)
            for (i, _), text in zip(chunk, decoded):
                out[i] = text
        return out

    return reason


# ----------------------------------------------------------------------------- one task


def _contexts(tokenizer, task, examples, sets, options, reasoner):
    """Per example: (prefix with the input, prefix with the neutral input, reasoning,
    neutral reasoning) or a status string."""
    system, rp = options["system_prompt"], task.response_prefix
    prompts: list[tuple[str, str] | str] = []
    for example, answers in zip(examples, sets):
        if not isinstance(answers, AnswerSet):
            prompts.append(answers.reason)
            continue
        try:
            prompts.append((task.build_prompt(example), task.build_prompt(neutral_example(task.name, example))))
        except (KeyError, TypeError, ValueError):
            prompts.append(NO_PROMPT)
    if options["context"] == "fixed":
        think = options["think"]
        return [p if isinstance(p, str) else
                (answer_prefix(tokenizer, p[0], system, think, rp), answer_prefix(tokenizer, p[1], system, think, rp),
                 think, think) for p in prompts]
    starts = {prompt: reasoning_start(tokenizer, prompt, system, rp)
              for p in prompts if not isinstance(p, str) for prompt in p}
    distinct = list(dict.fromkeys(start for start, _ in starts.values()))  # a task's neutral prompt: once
    texts = list(reasoner(distinct)) if distinct else []
    if len(texts) != len(distinct):
        raise ValueError(f"the reasoner returned {len(texts)} texts for {len(distinct)} prompts")
    generated = dict(zip(distinct, texts))
    out = []
    for p in prompts:
        if isinstance(p, str):
            out.append(p)
            continue
        thinks = []
        for prompt in p:
            start, written = starts[prompt]
            text = generated[start]
            thinks.append(None if text is None else written + cut_reasoning(text))
        if None in thinks:
            out.append(TOO_LONG)
            continue
        out.append((answer_prefix(tokenizer, p[0], system, thinks[0], rp),
                    answer_prefix(tokenizer, p[1], system, thinks[1], rp), *thinks))
    return out


def _score_task(tokenizer, task_name, examples, options, scorer, reasoner) -> tuple[list[dict], dict, Counter]:
    task = get_task(task_name)
    sets = answer_sets(task_name, examples, options["num_distractors"], options["seed"])
    contexts = _contexts(tokenizer, task, examples, sets, options, reasoner)
    rows, unique, wanted = [], {}, []  # wanted: (row, candidate answers, real items, neutral items)
    for index, (example, answers, context) in enumerate(zip(examples, sets, contexts)):
        row = {"task": task_name, "index": index, "origin": example.get("origin")}
        rows.append(row)
        if isinstance(context, str):
            row["status"] = context
            continue
        prefix, neutral_prefix, think, neutral_think = context
        choices = (answers.gold, *answers.distractors)
        row.update(gold=answers.gold, distractors=json.dumps(list(answers.distractors)))
        if options["context"] == "generated":
            row.update(think=think, neutral_think=neutral_think)
        real = [ScoringItem(prefix, answer_target(a)) for a in choices]
        neutral = [ScoringItem(neutral_prefix, answer_target(a)) for a in choices]
        for item in (*real, *neutral):
            unique.setdefault(item, len(unique))  # a task's neutral items repeat: scored once
        wanted.append((row, choices, real, neutral))
    scored = list(scorer(list(unique))) if unique else []
    if len(scored) != len(unique):
        raise ValueError(f"the scorer returned {len(scored)} scores for {len(unique)} items")
    raw_gold, raw_distractors, prior_gold, prior_distractors, candidates = [], [], [], [], []
    for row, choices, real, neutral in wanted:
        mine = [scored[unique[item]] for item in (*real, *neutral)]
        row["status"] = next((s.status for s in mine if s.status != OK), OK)
        if row["status"] != OK:
            continue
        raw = [scored[unique[item]].sum_logprob for item in real]
        prior = [scored[unique[item]].sum_logprob for item in neutral]
        ls = prior_corrected(raw, prior)
        row.update(ls_gold=ls[0], ls_distractors=json.dumps(ls[1:]), margin=ls[0] - max(ls[1:]),
                   gold_top1=top1_credit(ls[0], ls[1:]), lp_gold=raw[0], lp_distractors=json.dumps(raw[1:]),
                   prior_gold=prior[0], prior_distractors=json.dumps(prior[1:]),
                   raw_gold_top1=top1_credit(snap(raw)[0], snap(raw)[1:]))
        raw_gold.append(raw[0])
        raw_distractors.append(raw[1:])
        prior_gold.append(prior[0])
        prior_distractors.append(prior[1:])
        candidates.append(list(choices))
    metrics = ls_task_metrics(raw_gold, raw_distractors, prior_gold, prior_distractors,
                              candidates if task_name in CLOSED_TASKS else None)
    return rows, metrics, Counter(r["status"] for r in rows)


def _macro(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    out = {}
    for key in ("cohens_d", "gold_top1"):
        values = [m[key] for m in metrics.values() if m.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def run_ls_d(
    model: torch.nn.Module | None,
    tokenizer: PreTrainedTokenizerBase,
    task_examples: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    num_distractors: int = DEFAULT_NUM_DISTRACTORS,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int | None = None,
    system_prompt: str | None = None,
    context: str = DEFAULT_CONTEXT,
    think: str = "",
    max_think_tokens: int = DEFAULT_MAX_THINK_TOKENS,
    generation_batch_size: int = DEFAULT_GENERATION_BATCH_SIZE,
    all_finished: Callable[[bool], bool] | None = None,
    scorer: Scorer | None = None,
    reasoner: Reasoner | None = None,
) -> DiagnosticResult:
    """LS_d for every ``task name -> examples`` entry (see the module docstring).

    ``context``: ``"generated"`` (greedy reasoning of at most ``max_think_tokens``,
    ``generation_batch_size`` prompts at a time) or ``"fixed"`` (``<think>{think}</think>``).
    ``scorer`` / ``reasoner`` replace the model's scoring / greedy reasoning (a test's
    synthetic model); ``model`` may then be None."""
    if context not in CONTEXTS:
        raise ValueError(f"context={context!r} is not one of {CONTEXTS}")
    if context == "generated" and think:
        raise ValueError("think text is the reasoning of context='fixed'; context='generated' writes its own")
    if max_think_tokens < 1 or generation_batch_size < 1:
        raise ValueError("max_think_tokens and generation_batch_size must be at least 1")
    if scorer is None:
        scorer = model_scorer(model, tokenizer, batch_size, max_length)
    if reasoner is None and context == "generated":
        reasoner = greedy_reasoner(model, tokenizer, max_think_tokens, generation_batch_size, max_length,
                                   all_finished)
    options = dict(num_distractors=num_distractors, seed=seed, system_prompt=system_prompt, context=context,
                   think=think)
    rows, metrics, counts = [], {}, {}
    for task_name, examples in task_examples.items():
        task_rows, metrics[task_name], task_counts = _score_task(tokenizer, task_name, examples, options, scorer,
                                                                 reasoner)
        rows.extend(task_rows)
        counts[task_name] = {"read": len(task_rows), "scored": task_counts.get(OK, 0),
                             **{k: v for k, v in task_counts.items() if k != OK}}
    per_task = dict(metrics)
    metrics["macro"] = {**_macro(per_task), **{variant: _macro({k: m.get(variant, {}) for k, m in per_task.items()})
                                               for variant in ("raw_sum", "centered")}}
    layout = (f"'<think>' + greedy reasoning (<= {max_think_tokens} tokens, cut at '</think>')"
              if context == "generated" else "'<think>' + think")
    summary = {
        "diagnostic": "LS_d (latent solvability, prior-corrected log-prob variant)",
        "note": "the MiST paper and its reference code define no latent-solvability formula; LS_d is a labelled "
                "stand-in",
        "metrics": metrics,
        "counts": counts,
        "definition": {
            "context": context,
            "prefix": f"chat-rendered task prompt + generation prompt + {layout} + '</think><answer>'",
            "think": think if context == "fixed" else None,
            "max_think_tokens": max_think_tokens if context == "generated" else None,
            "chat_template": has_chat_template(tokenizer),
            "score": "s(a|x) = summed token log-prob of '{a}</answer>' after the prefix",
            "ls": "s(a|x) - s(a|x0), x0 the neutral input (empty reaction '>>', empty name/SMILES, '>>' options); "
                  "top-level metrics use ls, 'raw_sum' the uncorrected s(a|x)",
            "centered": "closed answer sets: s(a|x_i) - mean over the other examples j of s(a|x_j)",
            "rounding": f"scores rounded to 1e-{DECIMALS} before comparison",
            "neutral_reasoning": "generated from the neutral prompt itself" if context == "generated" else None,
            "cohens_d": "gold scores vs all distractor scores pooled, (mean_g - mean_d) / s_p, pooled SD with ddof=1; "
                        "0 when every score is equal",
            "superiority": "P(gold > distractor) + 0.5 P(tie) over all (example, distractor) pairs",
            "rank_biserial": "matched-pairs rank-biserial of gold vs the example's mean distractor score; "
                             "0 when all tie",
            "gold_top1": "share of examples whose gold scores above every distractor, a tie with m at the top "
                         "counting 1/(m+1)",
            "num_distractors": num_distractors,
            "seed": seed,
        },
    }
    return DiagnosticResult(NAME, rows, summary)
