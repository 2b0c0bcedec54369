"""LS_d (gold vs distractor log-probs) and LS_pass@k (sampling) on the tiny model."""

import json

import pytest

from mist_pl.chem.smiles import canonicalize
from mist_pl.diagnostics.distractors import AnswerSet, NoAnswerSet, answer_sets
from mist_pl.diagnostics.ls_logprob import answer_prefix, run_ls_d, task_metrics
from mist_pl.diagnostics.ls_passk import run_ls_passk
from mist_pl.diagnostics.scoring import OK, TOO_LONG
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
    assert m["gold_top1"] == pytest.approx(1 / 3)  # only the first beats every distractor
    assert m["chance_top1"] == pytest.approx(1 / 3)
    # matched pairs (gold, mean distractor): differences 2, 0, 1 -> ranks 2, 1 -> r = 1
    assert m["rank_biserial"] == 1.0


def test_answer_prefix_uses_the_chat_template(tokenizer):
    prefix = answer_prefix(tokenizer, "Q?")
    assert prefix.startswith("<|im_start|>user\nQ?<|im_end|>") and prefix.endswith("assistant\n<think></think><answer>")


def test_ls_d_on_tiny(tiny_model, tokenizer):
    data = {
        "rxn_true_false": load_task_examples(get_task("rxn_true_false"), limit=4),
        "rxn_prediction": PREDICTION,
        "cond_mat_gen": [{"elements": ["Na", "Cl"], "space_group": 225}],
    }
    result = run_ls_d(tiny_model, tokenizer, data, num_distractors=2)
    metrics, counts = result.summary["metrics"], result.summary["counts"]
    assert metrics["rxn_true_false"]["n_items"] == 4 and metrics["rxn_prediction"]["n_distractors"] == 10
    assert counts["cond_mat_gen"]["scored"] == 0 and metrics["cond_mat_gen"] == {"n_items": 0}
    assert metrics["macro"]["cohens_d"] is not None
    assert "not public" in result.summary["note"]
    row = next(r for r in result.rows if r["task"] == "rxn_prediction")
    assert row["status"] == OK and len(json.loads(row["lp_distractors"])) == 2


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
