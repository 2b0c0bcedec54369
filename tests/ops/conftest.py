import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_thread_rewards(monkeypatch):
    # 2 shared cores: a second spinning OpenMP thread makes tiny models much slower;
    # rewards in threads, since worker processes take seconds to start.
    monkeypatch.setenv("MIST_PL_REWARD_RUNNER", "thread")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
