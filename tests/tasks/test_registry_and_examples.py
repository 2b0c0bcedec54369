"""Registry, reward protocol helpers, and every task end to end on the shipped fixtures."""

import pytest
from rdkit import Chem
from tasks_testkit import completion

from mist_pl.runtime.protocol import example_at, per_example, weighted_total
from mist_pl.tasks import TASKS, canonicalization, get_task, iupac_to_smiles, rxn_prediction
from mist_pl.tasks.registry import Task, WeightedReward, register_task

BUILTIN = {"rxn_naming", "cond_mat_gen", "rxn_prediction", "iupac_to_smiles", "canonicalization", "rxn_mcq", "rxn_true_false"}

# task -> fixture file (relative to mist-demo) whose examples it builds
FIXTURES = {
    "rxn_prediction": "rxnpred_tiny/src-train.txt",
    "iupac_to_smiles": "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
    "canonicalization": "pubchem/CRLLM-PubChem-compounds1M.sample.csv",
    "rxn_mcq": "reactions/rxn_inversion_sample.csv",
    "rxn_true_false": "reactions/rxn_truefalse_sample.csv",
    "cond_mat_gen": "crystalrelax_tiny/tgt-train.txt",
    "crystal_relax": "crystalrelax_tiny/src-train.txt",  # optional task; bad answers never reach CHGNet
}


def test_builtin_tasks_are_registered():
    assert BUILTIN <= set(TASKS)
    for name in BUILTIN:
        task = get_task(name)
        assert task.name == name and task.rewards and callable(task.top1)
        assert len(task.reward_functions) == len(task.reward_weights)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(KeyError, match="rxn_naming"):
        get_task("no_such_task")


def test_registry_refuses_a_second_task_under_a_taken_name():
    clash = Task("rxn_naming", build_prompt=str, rewards=(), top1=lambda c, e: False)
    with pytest.raises(ValueError, match="already registered"):
        register_task(clash)
    assert register_task(get_task("rxn_naming")) is get_task("rxn_naming")  # re-registering itself is fine


def test_tasks_view_is_read_only():
    with pytest.raises(TypeError):
        TASKS["x"] = None


def test_weighted_total_skips_none_and_keeps_all_none_as_none():
    assert weighted_total([[1.0, None, None], [0.5, 1.0, None]], [1.0, 0.1]) == [pytest.approx(1.05), pytest.approx(0.1), None]


def test_per_example_broadcasts_shared_columns_and_checks_aligned_ones():
    seen = []

    def score(completion, example):
        seen.append(example)
        return 1.0

    reward = per_example(score)
    assert reward(["a", "b"], gold=["x", "y"], shared={"k"}) == [1.0, 1.0]
    assert seen == [{"gold": "x", "shared": {"k"}}, {"gold": "y", "shared": {"k"}}]
    assert example_at({"gold": ("x", "y")}, 1) == {"gold": "y"}
    with pytest.raises(ValueError, match="score: column 'gold' has 1 entries for 2 completions"):
        reward(["a", "b"], gold=["x"])


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_task_end_to_end_on_its_fixture(name, demo):
    task = get_task(name)
    examples = task.load_examples(demo / FIXTURES[name])
    assert examples and all("origin" in e and "answer" in e for e in examples)
    example = examples[0]
    prompt = task.build_prompt(example)
    assert "<answer>" in prompt and "</think>" in prompt
    bad = completion("definitely not it")
    completions = [bad, bad]
    columns = {key: [example[key]] * 2 for key in example}
    for reward in task.rewards:
        values = reward.fn(completions, **columns)
        assert len(values) == 2 and all(v is None or isinstance(v, float) for v in values)
    assert not task.top1(bad, example)


@pytest.mark.parametrize("name", ["rxn_prediction", "iupac_to_smiles", "rxn_mcq", "rxn_true_false"])
def test_gold_answer_is_top1_for_every_fixture_example(name, demo):
    task = get_task(name)
    for example in task.load_examples(demo / FIXTURES[name]):
        assert task.top1(completion(example["answer"]), example), example


def test_rxnpred_examples_pair_sources_and_targets(demo):
    examples = rxn_prediction.load_examples(demo / "rxnpred_tiny" / "tgt-test.txt")  # either file works
    assert len(examples) == 10
    assert examples[0] == {"reactants": "CO.C", "answer": "COC", "origin": f"{demo / 'rxnpred_tiny' / 'src-test.txt'}:1"}


def test_pubchem_examples(demo):
    path = demo / "pubchem" / "CRLLM-PubChem-compounds1M.sample.csv"
    names = iupac_to_smiles.load_examples(path)
    assert len(names) + len(names.skipped) == 50
    assert names[0]["name"] == "3-acetyloxy-4-(trimethylazaniumyl)butanoate"
    variants = canonicalization.load_examples(path)
    assert len(variants) == 4 * len(names)  # one example per randomized variant
    for example in variants[:8]:
        assert example["answer"] == Chem.MolToSmiles(Chem.MolFromSmiles(example["smiles"]))
        assert canonicalization.top1(completion(example["answer"]), example)
    explicit_h = canonicalization.load_examples(demo / "pubchem" / "CRLLM-PubChem-compounds1M_hydrogen.sample.csv")
    assert "[H]" in explicit_h[0]["smiles"] and "[H]" not in explicit_h[0]["answer"]


def test_malformed_pubchem_rows_are_counted(tmp_path):
    path = tmp_path / "pubchem.csv"
    path.write_text('IUPAC,SMILES\nethanol,CCO\nbroken,C1CC\n"unterminated,CCO\n')
    examples = iupac_to_smiles.load_examples(path)
    assert [e["answer"] for e in examples] == ["CCO"]
    assert len(examples.skipped) == 2


def test_a_custom_task_can_be_registered():
    def score(completion, example):
        return 1.0

    task = register_task(Task("test_custom", build_prompt=lambda e: "p", rewards=(WeightedReward(per_example(score)),), top1=lambda c, e: True))
    assert get_task("test_custom") is task


def test_rewards_skip_rows_of_other_tasks_in_a_mixed_batch():
    # An IUPAC row's gold is a valid SMILES: the reaction-prediction reward must not score it.
    good = completion("CCO")
    columns = {"answer": ["CCO", "CCO", "CCO"], "task": ["rxn_prediction", "iupac_to_smiles", None]}
    assert rxn_prediction.rxn_prediction_reward([good] * 3, **columns) == [1.0, None, 1.0]
    assert iupac_to_smiles.iupac_to_smiles_reward([good] * 3, **columns) == [None, 1.0, 1.0]
