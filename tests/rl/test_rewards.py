import math

import pytest

from mist_pl.rl.rewards import RewardComputer, RewardSpec
from mist_pl.runtime.imports import import_object
from mist_pl.runtime.safety import RewardContractError

M = "rl_rewards_fixtures"


def test_import_paths_resolve_and_fail_clearly():
    assert import_object(f"{M}.length_reward")(["ab"]) == [2.0]
    assert import_object(f"{M}:length_reward")(["ab"]) == [2.0]
    with pytest.raises(ImportError, match="no_such_module"):
        import_object("no_such_module.fn")
    with pytest.raises(AttributeError, match="nothing_here"):
        import_object(f"{M}.nothing_here")
    with pytest.raises(TypeError, match="not callable"):
        import_object(f"{M}.not_callable")
    with pytest.raises(ValueError, match="import path"):
        import_object("justaname")


def test_weighted_total_and_none_skips():
    computer = RewardComputer(
        [RewardSpec(f"{M}.length_reward", 0.5), {"fn": f"{M}.skips_second", "weight": 2.0}], timeout_s=5, runner="thread"
    )
    result = computer(["abcd", "ab"], {"answer": ["x", "skip"]})
    assert result.per_function == {"length_reward": [4.0, 2.0], "skips_second": [0.5, None]}
    assert result.total == pytest.approx([0.5 * 4 + 2 * 0.5, 0.5 * 2])
    assert result.skipped == {"length_reward": 0, "skips_second": 1}
    assert result.failed == {"length_reward": 0, "skips_second": 0}


def test_wrong_length_fails_loudly_naming_the_function():
    computer = RewardComputer([RewardSpec(f"{M}.wrong_length")], runner="thread")
    with pytest.raises(RewardContractError, match="wrong_length"):
        computer(["a", "b", "c"], {})


def test_exception_costs_only_that_completion_and_is_counted():
    computer = RewardComputer([RewardSpec(f"{M}.explodes_on_x")], timeout_s=5, runner="thread")
    result = computer(["ok", "x marks", "fine"], {})
    assert result.total == [1.0, None, 1.0]
    assert result.failed == {"explodes_on_x": 1}


def test_timeout_costs_only_that_completion():
    computer = RewardComputer([RewardSpec(f"{M}.slow_on_z")], timeout_s=0.5, runner="thread")
    result = computer(["a", "zzz"], {})
    assert result.total == [2.0, None]
    assert result.failed == {"slow_on_z": 1}


def test_duplicate_names_and_empty_lists_are_rejected():
    with pytest.raises(ValueError, match="share a name"):
        RewardComputer([RewardSpec(f"{M}.length_reward"), RewardSpec(f"{M}.length_reward")])
    with pytest.raises(ValueError, match="at least one"):
        RewardComputer([])


def test_task_suite_rewards_resolve_by_their_real_names():
    fn = import_object("mist_pl.tasks.answer.format_reward")
    assert fn(["<think>a</think><answer>b</answer>", "nope"]) == [1.0, 0.0]
    rxn = import_object("mist_pl.tasks.rxn_naming.rxn_naming_reward")
    got = rxn(["<think>x</think><answer>Reduction</answer>"], answer=["Reduction"])
    assert got[0] is not None and math.isclose(got[0], 1.0)


def test_top1_comes_from_the_task_registry():
    computer = RewardComputer([RewardSpec("mist_pl.tasks.answer.format_reward")], runner="thread")
    completions = ["<think>x</think><answer>Reduction</answer>", "<think>x</think><answer>Acylation</answer>", "nope"]
    result = computer(completions, {"task": ["rxn_naming", "rxn_naming", "no_such_task"], "answer": ["Reduction"] * 3})
    assert result.top1 == [1.0, 0.0, None]
    assert computer(completions, {"answer": ["Reduction"] * 3}).top1 == [None, None, None]


def test_valid_comes_from_the_task_registry_next_to_top1():
    computer = RewardComputer([RewardSpec("mist_pl.tasks.answer.format_reward")], runner="thread")
    completions = [
        "<think>x</think><answer>Reduction</answer>",  # right
        "<think>x</think><answer>Acylation</answer>",  # a class, wrong: valid
        "<think>x</think><answer>Oxidation</answer>",  # not one of the ten classes
        "<think>x</think><answer>Reduction",  # unclosed
        "<think>x</think><answer>true</answer>",  # right for a true/false task
        "<think>x</think><answer>Reduction</answer>",  # unknown task: not judged
    ]
    columns = {"task": ["rxn_naming"] * 4 + ["rxn_true_false", "no_such_task"], "answer": ["Reduction"] * 4 + ["true", "x"]}
    result = computer(completions, columns)
    assert result.top1 == [1.0, 0.0, 0.0, 0.0, 1.0, None]
    assert result.valid == [1.0, 1.0, 0.0, 0.0, 1.0, None]
    assert computer(completions, {"answer": ["Reduction"] * 6}).valid == [None] * 6


def test_task_metric_reads_the_named_attribute_and_caches_it():
    from mist_pl.rl.rewards import task_metric
    from mist_pl.tasks import rxn_naming

    assert task_metric("rxn_naming").score is rxn_naming.top1  # top1 stays the default
    valid = task_metric("rxn_naming", "valid")
    assert valid.score is rxn_naming.valid_answer and task_metric("rxn_naming", "valid") is valid
    assert task_metric("no_such_task", "valid") is None
    with pytest.raises(ValueError, match="'build_prompt'"):
        task_metric("rxn_naming", "build_prompt")
