import pytest


@pytest.fixture(autouse=True)
def _threads(monkeypatch):
    # Rewards in threads: worker processes cost seconds to start on a 2-core machine.
    monkeypatch.setenv("MIST_PL_REWARD_RUNNER", "thread")
