"""Reaction multiple choice and true/false: answer reading, rewards, fixture loading."""

import pytest
from tasks_testkit import completion

from mist_pl.chem.reactions import canonicalize_reaction
from mist_pl.tasks import rxn_mcq, rxn_true_false
from mist_pl.tasks.answer import choice_letter, true_false


@pytest.mark.parametrize("answer, letter", [("B", "B"), ("b", "B"), ("(B)", "B"), ("B)", "B"), ("Option B.", "B"), ("answer: d", "D"), (" C ", "C")])
def test_choice_letter_reads_common_spellings(answer, letter):
    assert choice_letter(answer, 4) == letter


@pytest.mark.parametrize("answer", ["E", "AB", "B and C", "", None, "1", "B" * 100])
def test_choice_letter_rejects_the_rest(answer):
    assert choice_letter(answer, 4) is None


@pytest.mark.parametrize("answer, value", [("true", True), ("FALSE", False), ("True.", True), ("yes", None), ("true false", None), (None, None)])
def test_true_false(answer, value):
    assert true_false(answer) is value


def test_mcq_reward():
    columns = {"options": [["a>>b", "b>>a", "c>>d"]] * 4, "answer": ["C"] * 4}
    completions = [completion("C"), completion("(c)"), completion("A"), "C"]
    assert rxn_mcq.rxn_mcq_reward(completions, **columns) == [1.0, 1.0, 0.0, 0.0]


def test_true_false_reward():
    completions = [completion("true"), completion("False"), completion("maybe"), "true"]
    assert rxn_true_false.rxn_true_false_reward(completions, answer=["true"] * 4) == [1.0, 0.0, 0.0, 0.0]
    assert rxn_true_false.rxn_true_false_reward([completion("false")], answer=["false"]) == [1.0]
    assert rxn_true_false.rxn_true_false_reward([completion("false")], answer=["unknown"]) == [None]


def test_mcq_examples_from_fixture_have_one_right_answer(demo):
    path = demo / "reactions" / "rxn_inversion_sample.csv"
    examples = rxn_mcq.load_examples(path)
    assert len(examples) + len(examples.skipped) == 50
    assert len(examples) == 50
    for example in examples:
        keys = [canonicalize_reaction(o, keep_agents=False) or o for o in example["options"]]
        assert len(set(keys)) == len(keys), example  # no option is the true reaction reworded
        assert 2 <= len(example["options"]) <= 4
        assert example["origin"].startswith(str(path))
    assert len({e["answer"] for e in examples}) > 1  # the gold letter moves around
    assert rxn_mcq.load_examples(path) == examples  # deterministic shuffle


def test_mcq_gold_is_the_true_reaction(demo):
    path = demo / "reactions" / "rxn_inversion_sample.csv"
    first_true = path.read_text().splitlines()[1].split(",")[0]
    example = rxn_mcq.load_examples(path)[0]
    assert example["options"][ord(example["answer"]) - ord("A")] == first_true
    assert rxn_mcq.top1(completion(example["answer"]), example)
    prompt = rxn_mcq.build_prompt(example)
    assert all(o in prompt for o in example["options"]) and "<answer>" in prompt


def test_true_false_examples_from_fixture(demo):
    examples = rxn_true_false.load_examples(demo / "reactions" / "rxn_truefalse_sample.csv")
    assert len(examples) == 50
    assert {e["answer"] for e in examples} == {"true", "false"}
    assert rxn_true_false.top1(completion(examples[0]["answer"]), examples[0])


def test_malformed_rows_are_counted_and_skipped(tmp_path):
    path = tmp_path / "tf.csv"
    path.write_text("reaction,label\nCCO>>CC=O,true\nCCO>>CC=O,perhaps\nCCO>>CC=O\n,false\nCCO>>CC=O,true,extra\n")
    examples = rxn_true_false.load_examples(path)
    assert len(examples) == 1
    assert [origin.rsplit(":", 1)[1] for origin, _ in examples.skipped] == ["3", "4", "5", "6"]


def test_mcq_rows_with_only_duplicate_options_are_skipped(tmp_path):
    path = tmp_path / "mcq.csv"
    path.write_text("true_reaction,fake1\nCCO.CC(=O)O>>CC(=O)OCC,CC(=O)O.CCO>>CC(=O)OCC\n")
    examples = rxn_mcq.load_examples(path)
    assert len(examples) == 0 and len(examples.skipped) == 1
