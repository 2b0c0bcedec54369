"""Fixtures for the diagnostics tests: the tiny model (random weights) and its tokenizer."""

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


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # 2 shared cores: two spinning OpenMP threads next to another busy process make
    # these tiny models many times slower than one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
