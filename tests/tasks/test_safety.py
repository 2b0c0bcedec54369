"""safe_reward_call: loud contract errors, contained per-completion failures, time bounds."""

import threading
import time

import pytest
import tasks_testkit as rh

from mist_pl.runtime.safety import RewardContractError, safe_reward_call
from mist_pl.runtime.workers import ProcessRunner, ThreadRunner


@pytest.fixture(scope="module")
def process_runner():
    runner = ProcessRunner(n_workers=2, warm_modules=("tasks_testkit",))
    runner.start()
    yield runner
    runner.close()


@pytest.fixture(params=["thread", "process"])
def runner(request):
    return ThreadRunner() if request.param == "thread" else request.getfixturevalue("process_runner")


def test_good_reward_passes_through(runner):
    rewards, n_failed = safe_reward_call(rh.constant_reward, ["a", "b", "c"], {"answer": [1, 2, 3]}, 5.0, runner)
    assert rewards == [0.5, 0.5, 0.5] and n_failed == 0


def test_wrong_length_fails_loudly_naming_the_function(runner):
    with pytest.raises(RewardContractError, match=r"wrong_length_reward returned 1 values for 3 completions"):
        safe_reward_call(rh.wrong_length_reward, ["a", "b", "c"], {}, 5.0, runner)


def test_wrong_length_of_a_closure_names_it_too():
    def my_local_reward(completions, **columns):
        return []

    with pytest.raises(RewardContractError, match="my_local_reward"):
        safe_reward_call(my_local_reward, ["a"], {}, 5.0, ThreadRunner())


@pytest.mark.parametrize("fn, what", [(rh.not_a_list_reward, "returned float"), (rh.string_values_reward, "returned a str")])
def test_non_numeric_results_fail_loudly(fn, what):
    with pytest.raises(RewardContractError, match=what):
        safe_reward_call(fn, ["a", "b"], {}, 5.0, ThreadRunner())


def test_exception_gives_none_only_for_the_bad_completion(runner):
    completions = ["ok", "boom", "fine"]
    rewards, n_failed = safe_reward_call(rh.raises_on_boom, completions, {"answer": [1, 2, 3]}, 5.0, runner)
    assert rewards == [1.0, None, 3.0]
    assert n_failed == 1


def test_none_means_skip_and_nan_counts_as_failure(runner):
    rewards, n_failed = safe_reward_call(rh.skips_and_nans, ["a", "skip", "nan"], {}, 5.0, runner)
    assert rewards == [1.0, None, None]
    assert n_failed == 1  # the skip is the function's choice, the NaN is a failure


def test_timeout_in_thread_runner_gives_none_and_is_counted():
    runner = ThreadRunner()
    start = time.monotonic()
    rewards, n_failed = safe_reward_call(rh.sleeps_on_hang, ["a", "hang", "b"], {}, 0.3, runner)
    assert time.monotonic() - start < 20  # batch budget + retry budget, not the 60 s the reward sleeps
    assert rewards == [1.0, None, 1.0] and n_failed == 1
    assert runner.abandoned >= 1  # threads cannot be killed: the trade-off, made visible


def test_timeout_in_process_runner_kills_the_stuck_worker(process_runner):
    killed_before = process_runner.killed
    start = time.monotonic()
    rewards, n_failed = safe_reward_call(rh.hangs_on_hang, ["a", "hang", "b"], {}, 0.5, process_runner)
    assert time.monotonic() - start < 30  # not the hour the reward hangs
    assert rewards == [1.0, None, 1.0] and n_failed == 1
    assert process_runner.killed >= killed_before + 2  # the batch's worker and the single's
    # The pool recovers: the replacement worker serves the next call.
    assert safe_reward_call(rh.constant_reward, ["x"], {}, 30.0, process_runner) == ([0.5], 0)


def test_unpicklable_reward_falls_back_to_threads(process_runner):
    offset = 0.25
    rewards, n_failed = safe_reward_call(lambda completions, **kw: [offset] * len(completions), ["a", "b"], {}, 5.0, process_runner)
    assert rewards == [0.25, 0.25] and n_failed == 0


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_works_outside_the_main_thread(kind, request):
    runner = ThreadRunner() if kind == "thread" else request.getfixturevalue("process_runner")
    hanging = rh.sleeps_on_hang if kind == "thread" else rh.hangs_on_hang
    results = {}

    def call():
        try:
            results["hang"] = safe_reward_call(hanging, ["hang", "a"], {}, 0.3, runner)
            results["boom"] = safe_reward_call(rh.raises_on_boom, ["boom", "a"], {"answer": [0, 2]}, 5.0, runner)
        except BaseException as error:  # surfaced by the assertion below
            results["error"] = error

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(30)
    assert "error" not in results, results.get("error")
    assert results["hang"] == ([None, 1.0], 1)
    assert results["boom"] == ([None, 2.0], 1)


def test_empty_batch_needs_no_call():
    assert safe_reward_call(rh.wrong_length_reward, [], {}, 1.0, ThreadRunner()) == ([], 0)


def test_thread_runner_can_be_chosen_by_environment(monkeypatch):
    from mist_pl.runtime import safety

    monkeypatch.setenv(safety.RUNNER_ENV, "thread")
    assert isinstance(safety.default_runner(), ThreadRunner)


def test_processes_that_cannot_start_fall_back_to_threads(monkeypatch, caplog):
    from mist_pl.runtime import safety

    def refuse(self):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.delenv(safety.RUNNER_ENV, raising=False)
    monkeypatch.setattr(safety, "_process_runner", None)
    monkeypatch.setattr(safety, "_process_runner_broken", False)
    monkeypatch.setattr(ProcessRunner, "start", refuse)
    assert isinstance(safety.default_runner(), ThreadRunner)
    assert "using threads" in caplog.text
    assert safe_reward_call(rh.constant_reward, ["a"], {}, 5.0) == ([0.5], 0)


def test_task_rewards_run_in_worker_processes():
    """The real rewards pickle by reference and score the same in a spawned worker."""
    from tasks_testkit import completion

    from mist_pl.tasks import get_task
    from mist_pl.tasks.material_checks import KnownCompositions
    from mist_pl.tasks.registry import BUILTIN_TASK_MODULES

    runner = ProcessRunner(n_workers=1, warm_modules=BUILTIN_TASK_MODULES)  # as in training
    try:
        smiles_reward = get_task("rxn_prediction").rewards[0].fn
        completions = [completion("CCOC(C)=O"), completion("CCO"), completion("C1CC")]
        columns = {"answer": ["CC(=O)OCC"] * 3, "reactants": ["CC(=O)O.CCO"] * 3}
        assert safe_reward_call(smiles_reward, completions, columns, 30.0, runner) == ([1.0, -0.5, -1.0], 0)

        material_reward = get_task("cond_mat_gen").rewards[0].fn
        columns = {"elements": [["Na", "Cl"]] * 2, "space_group": [225] * 2, "known_compositions": KnownCompositions(["NaCl"])}
        completions = [completion("Na Cl <sg225>"), completion("K Cl <sg225>")]
        in_process = material_reward(completions, **columns)
        assert safe_reward_call(material_reward, completions, columns, 30.0, runner) == (in_process, 0)
    finally:
        runner.close()
