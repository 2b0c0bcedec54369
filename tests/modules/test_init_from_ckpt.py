"""``init_from_ckpt``: the next stage (e.g. SFT after CPT) starts from a checkpoint's weights
only; optimizer, schedule, step counter and data position start fresh."""

import lightning as L
import torch
from cpt_helpers import model_weights, quiet_trainer

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.sft import SFTModule


class WeightsAtStart(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        self.weights = model_weights(pl_module)
        self.optimizer_state = len(trainer.optimizers[0].state)


def test_sft_starts_from_cpt_weights(trained_ckpt, tmp_path, mix_file):
    cpt_module, ckpt = trained_ckpt
    module = SFTModule(init_from_ckpt=str(ckpt))
    assert module.hparams["init_from_ckpt"] == str(ckpt)  # recorded for the next checkpoint
    start = WeightsAtStart()
    trainer = quiet_trainer(tmp_path, max_steps=2, callbacks=[start])
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))

    expected = cpt_module.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in start.weights.items())
    assert start.optimizer_state == 0  # a fresh optimizer, not the CPT run's moments
    assert trainer.global_step == 2  # counted from zero, not from the CPT run's 6 steps


def test_checkpoint_is_read_with_weights_only(trained_ckpt, monkeypatch):
    """Checkpoints may come from elsewhere: never unpickle arbitrary objects from them."""
    _, ckpt = trained_ckpt
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    SFTModule(init_from_ckpt=str(ckpt)).configure_model()
    assert calls == [True]
