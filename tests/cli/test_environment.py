"""Environment variables the package reads are checked, named in every error, and never
silently override the config."""

from __future__ import annotations

import logging
import os

import pytest

from mist_pl.callbacks.step_seed import StepSeed
from mist_pl.paths import CACHE_ENV, cache_dir
from mist_pl.rl.rewards import RewardComputer, RewardSpec
from mist_pl.runtime import safety
from mist_pl.runtime.workers import Outcome

REWARD = "mist_pl.tasks.answer.format_reward"


def test_empty_cache_variable_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_ENV, "")
    with pytest.raises(ValueError, match=f"{CACHE_ENV}=''"):
        cache_dir("tokenizers")
    assert list(tmp_path.iterdir()) == []  # no tokenizers/ folder in the working directory


def test_cache_path_that_cannot_be_a_folder_names_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    with pytest.raises(OSError, match=f"{CACHE_ENV}={str(blocker)!r}"):
        cache_dir("tokenizers")


def test_cache_variable_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir("tokenizers") == tmp_path / "cache" / "tokenizers"
    assert (tmp_path / "cache" / "tokenizers").is_dir()


def test_unknown_reward_runner_variable_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv(safety.RUNNER_ENV, "bogus")
    with pytest.raises(ValueError, match=f"{safety.RUNNER_ENV}='bogus' is not one of"):
        RewardComputer([RewardSpec(REWARD)])


class RecordingRunner:
    """Stands in for the shared process pool: records that it ran, runs in this thread."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, calls, timeout_s):
        self.calls += len(calls)
        return [Outcome("ok", call.fn(*call.args, **(call.kwargs or {}))) for call in calls]


@pytest.fixture
def process_pool(monkeypatch):
    runner = RecordingRunner()
    monkeypatch.setattr(safety, "_process_runner", runner)
    monkeypatch.setattr(safety, "_process_runner_broken", False)
    return runner


def test_the_configured_runner_wins_over_the_environment(monkeypatch, process_pool, caplog):
    monkeypatch.setenv(safety.RUNNER_ENV, "thread")
    with caplog.at_level(logging.WARNING, logger="mist_pl.runtime.safety"):
        computer = RewardComputer([RewardSpec(REWARD)], runner="process")
    computer(["<answer>x</answer>"], {})
    assert process_pool.calls > 0  # the config said process: the environment did not turn it into threads
    assert f"{safety.RUNNER_ENV}='thread'" in caplog.text and "process" in caplog.text


def test_the_environment_chooses_when_the_config_does_not(monkeypatch, process_pool):
    monkeypatch.setenv(safety.RUNNER_ENV, "thread")
    RewardComputer([RewardSpec(REWARD)], runner=None)(["<answer>x</answer>"], {})
    assert process_pool.calls == 0
    monkeypatch.delenv(safety.RUNNER_ENV)
    RewardComputer([RewardSpec(REWARD)], runner=None)(["<answer>x</answer>"], {})
    assert process_pool.calls > 0  # neither says: worker processes, the safe default


def test_bad_global_seed_variable_is_named(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "twelve")
    with pytest.raises(ValueError, match="PL_GLOBAL_SEED='twelve'"):
        StepSeed().base_seed()


def test_bad_thread_count_variable_is_named_by_the_demo(monkeypatch, capsys):
    from mist_pl import demo

    monkeypatch.setenv("OMP_NUM_THREADS", "four")
    with pytest.raises(SystemExit) as stop:
        demo.main(["--out", os.devnull])
    assert stop.value.code == 2  # a usage error, before anything runs
    assert "OMP_NUM_THREADS='four'" in capsys.readouterr().err
