import pytest
import torch

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer(ModelConfig())


@pytest.fixture(scope="session")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    model = build_model(ModelConfig(), tokenizer)
    model.eval()
    return model


@pytest.fixture(autouse=True)
def _threads(monkeypatch):
    # Rewards in threads: worker processes cost seconds to start on a 2-core machine.
    monkeypatch.setenv("MIST_PL_REWARD_RUNNER", "thread")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # The test machines have 2 shared cores: with another busy process, two spinning
    # OpenMP threads make these tiny models ~20x slower than one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
