"""Fixtures shared by the whole suite: the embedded tiny model and its tokenizer, and one
torch thread per test module and per child process.

Folders may override ``tokenizer`` with a stand-in (tests/data does).
"""

import os

# Every process a test starts (CLI runs, gloo ranks, smoke checks) inherits this before it
# imports torch: one OpenMP thread each, like the suite itself (below), instead of one per
# core competing with the suite's own thread. A value the caller set is kept.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import pytest  # noqa: E402 - after the thread variables, which torch reads at import
import torch  # noqa: E402

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
