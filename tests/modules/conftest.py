"""Fixtures of the CPT/SFT module tests: a small mixture file and a short CPT run whose
checkpoint several tests (export, init_from_ckpt) start from. One torch thread per test
module comes from tests/conftest.py."""

from __future__ import annotations

import pytest
import torch
from cpt_helpers import quiet_trainer, write_mix


@pytest.fixture(scope="session")
def mix_file(tmp_path_factory):
    return write_mix(tmp_path_factory.mktemp("mix") / "mix.yaml")


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory, mix_file):
    """(module, checkpoint path): 6 CPT steps of the tiny model, saved as one .ckpt file."""
    import lightning as L

    from mist_pl.data.datamodule import MixtureDataModule
    from mist_pl.modules.causal_lm import CausalLMModule
    from mist_pl.modules.optim import OptimConfig

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cpt_run")
    L.seed_everything(3, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=3e-3, schedule="constant"))
    data = MixtureDataModule(str(mix_file), seq_len=64, batch_size=2)
    trainer = quiet_trainer(root, max_steps=6)
    trainer.fit(module, datamodule=data)
    path = root / "cpt.ckpt"
    trainer.save_checkpoint(path)
    module.eval()
    return module, path
