"""Reaction naming: class matching, reward values, reasoning bonus, example loading."""

import pytest
from tasks_testkit import completion

from mist_pl.tasks import rxn_naming as rxn
from mist_pl.tasks.rxn_naming import REACTION_CLASSES, rxn_naming_reward, top1

EXAMPLE = {"reaction": "CC(=O)Cl.NCC>>CC(=O)NCC", "answer": "Acylation"}


def score(answer, think="reasoning", gold="Acylation"):
    (value,) = rxn_naming_reward([completion(answer, think)], answer=[gold])
    return value


def test_there_are_ten_classes():
    assert len(REACTION_CLASSES) == len(set(REACTION_CLASSES)) == 10


@pytest.mark.parametrize("answer", ["Acylation", "acylation", "  ACYLATION ", "Acylation."])
def test_exact_class_ignores_case_whitespace_and_full_stop(answer):
    assert score(answer) == rxn.CORRECT == 1.0


@pytest.mark.parametrize("answer", ["c–c   coupling", "C - C Coupling", "c-c coupling"])
def test_dash_and_spacing_variants_match(answer):
    assert score(answer, gold="C-C Coupling") == 1.0


def test_valid_but_wrong_class():
    assert score("Reduction") == pytest.approx(rxn.VALID_WRONG) == pytest.approx(0.2)


@pytest.mark.parametrize("answer", ["Oxidation", "Acylation or Reduction", "", "A" * 10_000])
def test_invalid_answer(answer):
    assert score(answer) == pytest.approx(rxn.INVALID) == pytest.approx(-0.2)


def test_missing_answer_block_is_invalid():
    (value,) = rxn_naming_reward(["<think>Acylation</think>"], answer=["Acylation"])
    assert value == pytest.approx(rxn.INVALID)  # the gold in the reasoning alone is no answer


def test_bonus_for_naming_the_gold_class_in_the_reasoning():
    assert score("Acylation", think="an amine attacks an acid chloride: an acylation") == pytest.approx(1.0 + rxn.THINK_BONUS)
    # A wrong answer with the gold in the reasoning is a second guess: no bonus.
    assert score("Reduction", think="looks like acylation, or a reduction?") == pytest.approx(rxn.VALID_WRONG)
    assert score("Reduction", think="an acylation") == pytest.approx(rxn.VALID_WRONG)


def test_listing_every_class_earns_no_bonus():
    assert score("Acylation", think=", ".join(REACTION_CLASSES)) == 1.0


def test_bonus_matches_whole_words_only():
    # "protection" inside "deprotection" is not the Protection class
    (value,) = rxn_naming_reward([completion("Protection", think="a deprotection step")], answer=["Protection"])
    assert value == 1.0


def test_unknown_gold_class_is_skipped_not_zeroed():
    assert rxn_naming_reward([completion("Acylation")], answer=["Oxidation"]) == [None]


def test_top1():
    assert top1(completion("acylation"), EXAMPLE)
    assert not top1(completion("Reduction"), EXAMPLE)
    assert not top1("Acylation", EXAMPLE)


def test_prompt_lists_classes_and_reaction():
    prompt = rxn.build_prompt(EXAMPLE)
    assert EXAMPLE["reaction"] in prompt and "<answer>" in prompt
    assert all(c in prompt for c in REACTION_CLASSES)


def test_load_examples_skips_unknown_classes(tmp_path):
    path = tmp_path / "classes.csv"
    path.write_text("rxn_smiles,class\nCC(=O)Cl.NCC>>CC(=O)NCC,acylation\nCCO>>CC=O,Oxidation\nCC,Reduction\n")
    examples = rxn.load_examples(path)
    assert [e["answer"] for e in examples] == ["Acylation"]
    assert examples[0]["origin"] == f"{path}:2"
    assert [o for o, _ in examples.skipped] == [f"{path}:3", f"{path}:4"]


def test_load_examples_needs_the_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("smiles,name\nCCO,ethanol\n")
    with pytest.raises(ValueError, match="reaction column"):
        rxn.load_examples(path)


# The column layout of the MiST reference code's reaction-naming data (demo/datasets/
# rxn_naming_sample.csv there): upper-case REACTION_PROMPT (reaction SMILES) and CLASS.
REFERENCE_LAYOUT = (
    "REACTION_PROMPT,CLASS\n"
    "CC(=O)Cl.CCO>>CC(=O)OCC.Cl,Acylation\n"
    "c1ccc(-c2ccccc2)cc1,C-C Coupling\n"
    "CC(=O)c1ccccc1.[H][H]>>CC(O)c1ccccc1,Reduction\n"
)


def test_load_examples_reads_the_reference_codes_column_layout(tmp_path):
    path = tmp_path / "rxn_naming_sample.csv"
    path.write_text(REFERENCE_LAYOUT)
    examples = rxn.load_examples(path)
    assert [(e["reaction"], e["answer"]) for e in examples] == [
        ("CC(=O)Cl.CCO>>CC(=O)OCC.Cl", "Acylation"), ("CC(=O)c1ccccc1.[H][H]>>CC(O)c1ccccc1", "Reduction")]
    assert examples.skipped == [(f"{path}:3", "not a reaction SMILES")]


def test_load_examples_takes_named_columns_for_any_other_layout(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("id,rxn_text,rxn_smiles,my_label,class\n1,x,CC(=O)Cl.NCC>>CC(=O)NCC,Acylation,Reduction\n")
    assert rxn.load_examples(path)[0]["answer"] == "Reduction"  # found by name: the 'class' column
    named = rxn.load_examples(path, reaction_column="rxn_smiles", class_column="my_label")
    assert [(e["reaction"], e["answer"]) for e in named] == [("CC(=O)Cl.NCC>>CC(=O)NCC", "Acylation")]
    with pytest.raises(ValueError, match="class_column='Label' is not a column"):
        rxn.load_examples(path, class_column="Label")


def test_build_reads_a_file_with_named_columns(tmp_path):
    import json

    from mist_pl.tasks.build import main

    path = tmp_path / "mine.tsv.csv"
    rows = [("CC(=O)Cl.NCC>>CC(=O)NCC", "Acylation"), ("CC(=O)c1ccccc1.[H][H]>>CC(O)c1ccccc1", "Reduction"),
            ("CC(=O)Cl.CCO>>CC(=O)OCC", "Acylation"), ("O=C(O)c1ccccc1.CO>>COC(=O)c1ccccc1", "Functional Group Interconversion")]
    path.write_text("smiles_of_reaction,named_class\n" + "".join(f"{r},{c}\n" for r, c in rows))
    out = tmp_path / "out"
    args = ["--task", "rxn_naming", "--source", "file", "--input", str(path), "--out", str(out), "--fractions", "1", "0", "0"]
    assert main([*args, "--reaction-column", "smiles_of_reaction", "--class-column", "named_class"]) == 0
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert sorted(r["answer"] for r in train) == sorted(c for _, c in rows)
    assert main([*args]) == 2  # no column of a known name: the build says so instead of a traceback
    assert main(["--task", "rxn_naming", "--source", "file", "--out", str(out)]) == 2  # no --input

