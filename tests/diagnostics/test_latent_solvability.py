"""LS_d (gold vs distractor log-probs) and LS_pass@k (sampling) on the tiny model."""

import json
import zlib

import pytest

from mist_pl.chem.smiles import canonicalize
from mist_pl.diagnostics.distractors import AnswerSet, NoAnswerSet, answer_sets
from mist_pl.diagnostics.ls_logprob import (
    answer_prefix,
    centered_scores,
    cut_reasoning,
    ls_task_metrics,
    neutral_example,
    reasoning_start,
    run_ls_d,
    task_metrics,
    top1_credit,
)
from mist_pl.diagnostics.ls_passk import run_ls_passk
from mist_pl.diagnostics.scoring import OK, TOO_LONG, SpanScore
from mist_pl.eval.task_data import load_task_examples
from mist_pl.tasks.registry import get_task
from mist_pl.tasks.rxn_naming import REACTION_CLASSES

PREDICTION = [
    {"reactants": "CCO.C", "answer": "CCOC"},
    {"reactants": "CC.N", "answer": "CCNC"},
    {"reactants": "CCC.O", "answer": "CCCO"},
    {"reactants": "CO.C", "answer": "COC"},
    {"reactants": "CCO.N", "answer": "NCCO"},  # another spelling of a different molecule
]


def test_closed_answer_distractors():
    naming = answer_sets("rxn_naming", [{"reaction": "CC>>CC", "answer": "Reduction"}])[0]
    assert naming.gold == "Reduction" and set(naming.distractors) == set(REACTION_CLASSES) - {"Reduction"}
    mcq = answer_sets("rxn_mcq", [{"options": ["a", "b", "c"], "answer": "B"}])[0]
    assert mcq == AnswerSet("B", ("A", "C"))
    assert answer_sets("rxn_true_false", [{"answer": "false"}])[0] == AnswerSet("false", ("true",))
    assert isinstance(answer_sets("cond_mat_gen", [{"elements": ["Na"]}])[0], NoAnswerSet)


def test_smiles_distractors_are_other_molecules_and_reproducible():
    sets = answer_sets("rxn_prediction", PREDICTION, num_distractors=2, seed=0)
    for example, answers in zip(PREDICTION, sets):
        assert answers.gold == example["answer"] and len(answers.distractors) == 2
        assert all(canonicalize(d) != canonicalize(answers.gold) for d in answers.distractors)
    assert answer_sets("rxn_prediction", PREDICTION, num_distractors=2, seed=0) == sets
    assert answer_sets("rxn_prediction", PREDICTION, num_distractors=2, seed=5) != sets
    alone = answer_sets("rxn_prediction", [{"reactants": "C", "answer": "CC"}, {"reactants": "C", "answer": "C(C)"}])
    assert all(isinstance(a, NoAnswerSet) for a in alone)  # the only other answer is the same molecule


def test_task_metrics_by_hand():
    gold = [-1.0, -2.0, -3.0]
    distractors = [[-2.0, -4.0], [-1.0, -3.0], [-3.0, -5.0]]
    m = task_metrics(gold, distractors)
    assert m["superiority"] == pytest.approx((2 + 1 + 1.5) / 6)  # pairs won, ties half
    # the first beats every distractor, the third ties its best one: a shared win
    assert m["gold_top1"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert m["chance_top1"] == pytest.approx(1 / 3)
    # matched pairs (gold, mean distractor): differences 2, 0, 1 -> ranks 2, 1 -> r = 1
    assert m["rank_biserial"] == 1.0


def test_top1_credit_shares_ties():
    assert top1_credit(1.0, [0.0, 0.5]) == 1.0
    assert top1_credit(0.0, [1.0, 0.0]) == 0.0
    assert top1_credit(1.0, [1.0, 0.0, 1.0]) == pytest.approx(1 / 3)  # tied with two at the top
    assert top1_credit(2.0, [2.0]) == 0.5


def test_no_preference_is_d_zero_and_chance():
    # every answer scored the same: no preference, not "undefined" and not "never top"
    m = task_metrics([0.0, 0.0], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert (m["cohens_d"], m["superiority"], m["rank_biserial"]) == (0.0, 0.5, 0.0)
    assert m["gold_top1"] == m["chance_top1"] == 0.25
    # same within each group but different between them: d is undefined, not 0
    assert task_metrics([1.0, 1.0], [[0.0], [0.0]])["cohens_d"] is None


def test_prior_correction_by_hand():
    # two examples, two distractors; raw sums favour the answer with the best prior
    raw_gold, raw_distractors = [-3.0, -6.0], [[-1.0, -5.0], [-2.0, -7.0]]
    prior_gold, prior_distractors = [-4.0, -8.0], [[-1.0, -5.0], [-3.0, -6.0]]
    m = ls_task_metrics(raw_gold, raw_distractors, prior_gold, prior_distractors)
    # corrected: gold 1, 2; distractors [0, 0], [1, -1]
    assert (m["mean_gold"], m["mean_distractor"]) == (1.5, 0.0)
    assert m["gold_top1"] == 1.0 and m["superiority"] == 1.0
    # pooled SD: ss_gold = 0.5, ss_distractors = 2, n = 2 + 4: sqrt(2.5 / 4)
    assert m["cohens_d"] == pytest.approx(1.5 / (2.5 / 4) ** 0.5)
    raw = m["raw_sum"]  # uncorrected: gold is never the likeliest answer
    assert raw["gold_top1"] == 0.0 and raw["mean_gold"] == -4.5 and raw["superiority"] == 0.5


def test_centered_scores_by_hand():
    candidates = [["A", "B"], ["B", "A"], ["A", "C"]]
    scores = [[1.0, 2.0], [4.0, 3.0], [5.0, 6.0]]
    # A: 1, 3, 5 -> 1 - 4, 3 - 3, 5 - 2; B: 2, 4 -> 2 - 4, 4 - 2; C has no other example
    assert centered_scores(candidates[:2], scores[:2]) == [[1 - 3, 2 - 4], [4 - 2, 3 - 1]]
    assert centered_scores(candidates, scores) is None
    assert centered_scores(candidates[:2] * 2, scores[:2] * 2)[0] == pytest.approx([1 - (3 + 1 + 3) / 3,
                                                                                    2 - (4 + 2 + 4) / 3])


def test_ls_task_metrics_adds_centered_for_closed_sets():
    raw_gold, raw_distractors = [0.0, 1.0], [[-1.0], [3.0]]
    m = ls_task_metrics(raw_gold, raw_distractors, [0.0, 0.0], [[0.0], [0.0]], [["A", "B"], ["B", "A"]])
    # A: 0 in example 1, 3 in example 2; B: -1, 1 -> centered gold 0 - 3, 1 - (-1); distractors -1 - 1, 3 - 0
    assert m["centered"]["mean_gold"] == pytest.approx((-3 + 2) / 2)
    assert m["centered"]["mean_distractor"] == pytest.approx((-2 + 3) / 2)
    assert m["centered"]["gold_top1"] == 0.0 and m["raw_sum"]["gold_top1"] == 0.5
    assert "centered" not in ls_task_metrics(raw_gold, raw_distractors, [0.0, 0.0], [[0.0], [0.0]])


def test_neutral_inputs():
    assert neutral_example("rxn_naming", {"reaction": "CC>>CO", "answer": "Reduction"}) == {
        "reaction": ">>", "answer": "Reduction"}
    assert neutral_example("rxn_prediction", {"reactants": "CCO.C", "answer": "CCOC"})["reactants"] == ""
    assert neutral_example("iupac_to_smiles", {"name": "ethanol", "answer": "CCO"})["name"] == ""
    assert neutral_example("canonicalization", {"smiles": "OCC", "answer": "CCO"})["smiles"] == ""
    mcq = neutral_example("rxn_mcq", {"options": ["A>>B", "C>>D", "E>>F"], "answer": "B"})
    assert mcq == {"options": [">>", ">>", ">>"], "answer": "B"}  # as many options: the same letters
    other = neutral_example("new_task", {"question": "why?", "hints": ["a", "b"], "answer": "x", "origin": "f:1",
                                         "n": 3})
    assert other == {"question": "", "hints": ["", ""], "answer": "x", "origin": "f:1", "n": 3}


def test_reasoning_is_cut_and_rebuilds_the_answer_prefix(tokenizer):
    assert cut_reasoning("a b</think><answer>X</answer>") == "a b"
    assert cut_reasoning("runs on without closing") == "runs on without closing"
    for response_prefix in ("<think>", "", "<think>Let me see.", "Answer:"):
        start, written = reasoning_start(tokenizer, "Q?", None, response_prefix)
        assert start.endswith("<think>" + written)
        prefix = answer_prefix(tokenizer, "Q?", None, written + " more", response_prefix)
        assert prefix == start + " more</think><answer>"


# A synthetic model for reaction naming: the score of an answer is a function of the
# reaction in the prompt, the reasoning and the answer text, with no network at all.
CLASS_PRIOR = {c: -2.0 * i for i, c in enumerate(sorted(REACTION_CLASSES, key=len, reverse=True))}
REACTIONS = [f"C{'C' * i}O>>C{'C' * i}=O" for i in range(20)]


def _reaction(prefix: str) -> str:
    return prefix.split("(reactants>>products):\n", 1)[1].split("\n", 1)[0]


def _reasoning(prefix: str) -> str:
    return prefix.rsplit("<think>", 1)[1].split("</think>", 1)[0]


def _class(target: str) -> str:
    return target.removesuffix("</answer>")


def synthetic_scorer(score):
    """A scorer from ``score(reaction, reasoning, answer) -> summed log-prob``."""
    def scorer(items):
        out = []
        for item in items:
            total = score(_reaction(item.prefix), _reasoning(item.prefix), _class(item.target))
            out.append(SpanScore(total / 3, total, 3, 100, OK))  # the mean is not what LS_d uses
        return out
    return scorer


def _naming(golds):
    return {"rxn_naming": [{"reaction": r, "answer": g} for r, g in zip(REACTIONS, golds)]}


def _echo_reasoner(texts):
    """Reasoning that restates the prompt's reaction, then closes and runs on."""
    return [f"looking at {_reaction(t)}</think><answer>junk" for t in texts]


BALANCED = [REACTION_CLASSES[i % 10] for i in range(20)]
FAVOURITE = max(CLASS_PRIOR, key=CLASS_PRIOR.get)  # the longest class name
UNBALANCED = [FAVOURITE] * 20


def _tokens(tokenizer, text):
    return len(tokenizer(text + "</answer>", add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("context", ["fixed", "generated"])
@pytest.mark.parametrize("bias", ["class prior", "length", "prior plus an input shift"])
def test_answer_only_preferences_score_d_zero_and_chance(tokenizer, context, bias):
    """A model whose preference among answers does not depend on the input: LS_d = 0 and
    rank = chance, where the raw sum calls it solvable (every gold is its favourite)."""
    score = {
        "class prior": lambda reaction, think, answer: CLASS_PRIOR[answer],
        # -1 per token: the summed log-prob of a model with no idea of the answer
        "length": lambda reaction, think, answer: -1.0 * _tokens(tokenizer, answer),
        # a prompt-dependent shift common to every answer of one example
        "prior plus an input shift": lambda reaction, think, answer: CLASS_PRIOR[answer] - 0.37 * len(reaction),
    }[bias]
    golds = UNBALANCED if bias != "length" else [min(REACTION_CLASSES, key=lambda c: _tokens(tokenizer, c))] * 20
    result = run_ls_d(None, tokenizer, _naming(golds), context=context, scorer=synthetic_scorer(score),
                      reasoner=_echo_reasoner)
    m = result.summary["metrics"]["rxn_naming"]
    assert m["n_items"] == 20
    assert abs(m["cohens_d"]) < 1e-9 and m["superiority"] == pytest.approx(0.5)
    assert m["gold_top1"] == pytest.approx(m["chance_top1"]) == pytest.approx(0.1)
    assert result.summary["metrics"]["macro"]["cohens_d"] == pytest.approx(0.0, abs=1e-9)
    centered = m["centered"]  # a one-class set: no reference but the gold class itself
    assert abs(centered["cohens_d"]) < 1e-9 and centered["gold_top1"] == pytest.approx(0.1)
    # the uncorrected sum rewards the bias: gold is always a favourite (the shortest answer
    # shares its token count with two others)
    assert m["raw_sum"]["gold_top1"] >= 3 * m["chance_top1"] and m["raw_sum"]["cohens_d"] > 1.0


@pytest.mark.parametrize("context", ["fixed", "generated"])
def test_a_model_that_reads_the_input_scores_d_above_zero(tokenizer, context):
    """Prior spread 2 per class, plus 3 for the gold of the reaction in the prompt and a
    little input-dependent noise: the prior drowns the signal in the raw sum, not in LS_d."""
    gold_of = dict(zip(REACTIONS, BALANCED))

    def score(reaction, think, answer):
        noise = 0.3 * (zlib.crc32(f"{reaction}|{answer}".encode()) % 1000 / 1000 - 0.5)
        return CLASS_PRIOR[answer] + (3.0 if gold_of.get(reaction) == answer else 0.0) + noise

    m = run_ls_d(None, tokenizer, _naming(BALANCED), context=context, scorer=synthetic_scorer(score),
                 reasoner=_echo_reasoner).summary["metrics"]["rxn_naming"]
    assert m["cohens_d"] > 2.0 and m["gold_top1"] == 1.0 and m["superiority"] == 1.0
    assert m["raw_sum"]["gold_top1"] <= 0.5 and m["raw_sum"]["cohens_d"] < 1.0


def test_generated_context_credits_reasoning_and_shares_it(tokenizer):
    """The model solves the task only by reasoning (its reasoning names the gold class, its
    answer copies the reasoning): the generated context sees it, the empty one cannot.
    Gold and distractors share one reasoning; the neutral input gets its own, generated once."""
    gold_of = dict(zip(REACTIONS, BALANCED))
    seen = []

    def reasoner(texts):
        seen.append(list(texts))
        return [f"class {gold_of.get(_reaction(t), 'Protection')}</think>ignored" for t in texts]

    prefixes = []

    def score(reaction, think, answer):
        return CLASS_PRIOR[answer] + (4.0 if think == f"class {answer}" else 0.0)

    scorer = synthetic_scorer(score)

    def recording(items):
        prefixes.extend(item.prefix for item in items)
        return scorer(items)

    result = run_ls_d(None, tokenizer, _naming(BALANCED), context="generated", scorer=recording, reasoner=reasoner)
    m = result.summary["metrics"]["rxn_naming"]
    # Its reasoning for no reaction names Protection too: on the two Protection reactions the
    # input changed nothing, every answer ties (1/10 each); the other 18 are won.
    assert m["gold_top1"] == pytest.approx((18 + 2 * 0.1) / 20) and m["cohens_d"] > 2.0
    assert len(seen) == 1 and len(seen[0]) == 20 + 1  # 20 reactions and one neutral prompt, once each
    row = result.rows[0]
    assert row["think"] == "class Acylation" and row["neutral_think"] == "class Protection"
    assert row["ls_gold"] == pytest.approx(row["lp_gold"] - row["prior_gold"])
    # 20 examples x 10 answers after their own reasoning, 10 answers after the neutral one
    assert len(prefixes) == 20 * 10 + 10 and len(set(prefixes)) == 20 + 1
    assert all(p.endswith("</think><answer>") for p in prefixes)
    fixed = run_ls_d(None, tokenizer, _naming(BALANCED), context="fixed", scorer=synthetic_scorer(score))
    assert fixed.summary["metrics"]["rxn_naming"]["gold_top1"] == pytest.approx(0.1)


def test_a_preference_that_needs_an_input_survives_the_neutral_correction_only(tokenizer):
    """The limit of the empty-input correction, as seen on base SmolLM2: a class the model
    prefers whenever there is *some* reaction, whichever, is not in s(a | x0); centering
    over the set's reactions removes it."""
    def score(reaction, think, answer):
        return CLASS_PRIOR[answer] + (5.0 if answer == "Deprotection" and reaction != ">>" else 0.0)

    golds = ["Deprotection"] * 19 + [c for c in REACTION_CLASSES if c != "Deprotection"]  # uneven: 19 of 28
    examples = {"rxn_naming": [{"reaction": f"C{'C' * i}N>>C{'C' * i}O", "answer": g} for i, g in enumerate(golds)]}
    m = run_ls_d(None, tokenizer, examples, context="fixed", scorer=synthetic_scorer(score)).summary["metrics"]
    m = m["rxn_naming"]
    assert m["gold_top1"] == pytest.approx(19 / 28) and m["cohens_d"] > 1.0  # Deprotection always wins
    assert m["centered"]["gold_top1"] == pytest.approx(0.1) and abs(m["centered"]["cohens_d"]) < 1e-9


def test_scores_are_sums_not_means(tokenizer):
    """Every token -1: the mean cannot tell answers apart, the sum prefers short answers
    (and the prior correction removes that preference)."""
    result = run_ls_d(None, tokenizer, _naming(BALANCED), context="fixed",
                      scorer=synthetic_scorer(lambda r, t, a: -1.0 * _tokens(tokenizer, a)))
    for row in result.rows:
        assert row["lp_gold"] == -_tokens(tokenizer, row["gold"])
        assert json.loads(row["lp_distractors"]) == [-_tokens(tokenizer, d) for d in json.loads(row["distractors"])]
        assert row["ls_gold"] == 0.0 and row["gold_top1"] == pytest.approx(0.1)


def test_bad_context_arguments(tokenizer):
    with pytest.raises(ValueError):
        run_ls_d(None, tokenizer, {}, context="nope", scorer=lambda items: [])
    with pytest.raises(ValueError):
        run_ls_d(None, tokenizer, {}, context="generated", think="given", scorer=lambda items: [])


def test_answer_prefix_uses_the_chat_template(tokenizer):
    prefix = answer_prefix(tokenizer, "Q?")
    assert prefix.startswith("<|im_start|>user\nQ?<|im_end|>") and prefix.endswith("assistant\n<think></think><answer>")


@pytest.mark.parametrize("context", ["generated", "fixed"])
def test_ls_d_on_tiny(tiny_model, tokenizer, context):
    data = {
        "rxn_true_false": load_task_examples(get_task("rxn_true_false"), limit=4),
        "rxn_prediction": PREDICTION,
        "cond_mat_gen": [{"elements": ["Na", "Cl"], "space_group": 225}],
    }
    result = run_ls_d(tiny_model, tokenizer, data, num_distractors=2, context=context, max_think_tokens=12)
    metrics, counts = result.summary["metrics"], result.summary["counts"]
    assert metrics["rxn_true_false"]["n_items"] == 4 and metrics["rxn_prediction"]["n_distractors"] == 10
    assert counts["cond_mat_gen"]["scored"] == 0 and metrics["cond_mat_gen"] == {"n_items": 0}
    assert metrics["macro"]["cohens_d"] is not None and metrics["macro"]["raw_sum"]["cohens_d"] is not None
    assert "define no latent-solvability formula" in result.summary["note"]
    assert result.summary["definition"]["context"] == context
    row = next(r for r in result.rows if r["task"] == "rxn_prediction")
    assert row["status"] == OK and len(json.loads(row["lp_distractors"])) == 2
    assert row["ls_gold"] == pytest.approx(row["lp_gold"] - row["prior_gold"])
    assert [row["ls_gold"], *json.loads(row["ls_distractors"])] == pytest.approx(
        [a - b for a, b in zip([row["lp_gold"], *json.loads(row["lp_distractors"])],
                               [row["prior_gold"], *json.loads(row["prior_distractors"])])])
    if context == "generated":  # the tiny random model writes 12 tokens of reasoning, input or not
        assert row["think"] and row["neutral_think"] and "</think>" not in row["think"]
    assert "diagnostics/ls_d/rxn_prediction/raw_sum/gold_top1" in result.scalars()


def test_generated_reasoning_is_the_greedy_continuation(tiny_model, tokenizer):
    """The reasoning an answer is scored after is the model's own greedy text: the summed
    log-prob of the gold answer equals a direct teacher-forced score after that text."""
    from mist_pl.diagnostics.scoring import ScoringItem, score_items

    examples = {"rxn_naming": [{"reaction": "CCO>>CC=O", "answer": "Reduction"}]}
    result = run_ls_d(tiny_model, tokenizer, examples, max_think_tokens=6)
    row = result.rows[0]
    start, _ = reasoning_start(tokenizer, get_task("rxn_naming").build_prompt(examples["rxn_naming"][0]))
    greedy = tokenizer.decode(tiny_model.generate(**tokenizer(start, return_tensors="pt", add_special_tokens=False),
                                                  max_new_tokens=6, do_sample=False)[0], skip_special_tokens=True)
    assert tokenizer.decode(tokenizer(start, add_special_tokens=False)["input_ids"], skip_special_tokens=True) + \
        row["think"] == greedy
    direct = score_items(tiny_model, tokenizer, [ScoringItem(start + row["think"] + "</think><answer>",
                                                             "Reduction</answer>")])[0]
    assert row["lp_gold"] == pytest.approx(direct.sum_logprob, abs=1e-4)


def test_ls_d_skips_too_long_examples(tiny_model, tokenizer):
    data = {"rxn_prediction": PREDICTION}
    result = run_ls_d(tiny_model, tokenizer, data, num_distractors=2, max_length=30)
    assert result.summary["counts"]["rxn_prediction"] == {"read": 5, "scored": 0, TOO_LONG: 5}
    assert result.summary["metrics"]["rxn_prediction"] == {"n_items": 0}


def test_ls_passk_on_tiny(tiny_model, tokenizer):
    data = {"rxn_mcq": load_task_examples(get_task("rxn_mcq"), limit=2)}
    result = run_ls_passk(tiny_model, tokenizer, data, k=2, n=3, max_new_tokens=6, batch_size=2)
    metrics = result.summary["metrics"]["rxn_mcq"]
    assert metrics["n_items"] == 2 and 0.0 <= metrics["pass@2"] <= 1.0
    assert len(result.rows) == 2 * 3 and {r["mode"] for r in result.rows} == {"sample"}
    assert "diagnostics/ls_passk/rxn_mcq/pass@2" in result.scalars()
