"""The thread and the process reward runners treat a broken reward the same way: a reward
that returns a generator (or anything else that is not a list) is a programming error on
both, raised naming the function; not a contract error on threads and a silent "no
reward" on processes (where a generator cannot be sent back from the worker)."""

from __future__ import annotations

import threading

import pytest

from mist_pl.runtime.safety import RewardContractError, safe_reward_call
from mist_pl.runtime.workers import ProcessRunner, ThreadRunner


def generator_reward(completions, **columns):
    return (1.0 for _ in completions)


def unpicklable_values_reward(completions, **columns):
    return [threading.Lock() for _ in completions]


@pytest.fixture(scope="module")
def process_runner():
    runner = ProcessRunner(n_workers=1)
    runner.start()
    yield runner
    runner.close()


@pytest.fixture(params=["thread", "process"])
def runner(request):
    return ThreadRunner() if request.param == "thread" else request.getfixturevalue("process_runner")


def test_generator_reward_is_refused_loudly_by_both_runners(runner):
    with pytest.raises(RewardContractError, match=r"generator_reward returned generator, expected a list"):
        safe_reward_call(generator_reward, ["a", "b"], {}, 10.0, runner)


def test_values_that_are_not_numbers_are_refused_by_both_runners(runner):
    with pytest.raises(RewardContractError, match=r"unpicklable_values_reward returned .*lock"):
        safe_reward_call(unpicklable_values_reward, ["a"], {}, 10.0, runner)
