"""Fixtures shared by the whole suite: the embedded tiny model and its tokenizer, and one
torch thread per test module.

Folders may override ``tokenizer`` with a stand-in (tests/data does).
"""

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
    # The test machines have 2 shared cores: next to another busy process, two spinning
    # OpenMP threads make these tiny models many times slower than one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
