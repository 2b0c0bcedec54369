"""Non-finite losses: each is reported with its step and batch origin and skipped; after
``max_bad_steps`` in a row the run saves a checkpoint and stops."""

import logging

import lightning as L
import pytest
import torch

from cpt_helpers import model_weights, quiet_trainer
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.export import load_checkpoint, model_state_dict
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig


class PoisonBatches(L.Callback):
    """Makes the embeddings of chosen batches infinite (a forward hook), so the model itself
    produces the NaN loss, and records the weights around every step."""

    def __init__(self, bad_batches) -> None:
        self.bad_batches = set(bad_batches)
        self.poison = False
        self.before: dict[int, dict] = {}
        self.after: dict[int, dict] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        def hook(module, args, output):
            return output * float("inf") if self.poison else output

        pl_module.model.get_input_embeddings().register_forward_hook(hook)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.poison = batch_idx in self.bad_batches
        self.before[batch_idx] = model_weights(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after[batch_idx] = model_weights(pl_module)


def run(tmp_path, mix_file, bad_batches, max_steps, max_bad_steps=3):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=1e-3, schedule="constant"), max_bad_steps=max_bad_steps)
    poison = PoisonBatches(bad_batches)
    trainer = quiet_trainer(tmp_path, max_steps=max_steps, callbacks=[poison], gradient_clip_val=1.0)
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    return trainer, module, poison


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_single_bad_step_is_reported_and_skipped(tmp_path, mix_file, caplog):
    with caplog.at_level(logging.WARNING, logger="mist_pl.modules.base"):
        trainer, module, poison = run(tmp_path, mix_file, bad_batches={2}, max_steps=5)
    assert same(poison.before[2], poison.after[2])  # the poisoned step changed nothing
    assert not same(poison.before[3], poison.after[3])  # and training went on afterwards
    assert all(torch.isfinite(v).all() for v in poison.after[4].values())
    assert module.bad_steps == 0 and not trainer.should_stop
    [record] = [r for r in caplog.records if "non-finite loss" in r.getMessage()]
    message = record.getMessage()
    # Where it happened: the step, the batch, the stream samples and the mixture sources.
    assert "global step 2 (batch 2; samples [" in message
    assert "sources [" in message and ("'molecules'" in message or "'text'" in message)
    assert "step skipped (1/3 in a row)" in message


def test_consecutive_bad_steps_stop_the_run_with_a_checkpoint(tmp_path, mix_file, caplog):
    with caplog.at_level(logging.WARNING, logger="mist_pl.modules.base"):
        trainer, module, poison = run(tmp_path, mix_file, bad_batches=range(2, 100), max_steps=20)
    assert trainer.should_stop and module.bad_steps == 3
    assert max(poison.before) == 4  # batches 2, 3, 4 were bad; no fourth one was tried
    path = tmp_path / "nonfinite-stop.ckpt"
    assert path.is_file()
    assert any("3 consecutive non-finite losses" in r.getMessage() and str(path) in r.getMessage()
               for r in caplog.records)
    # The checkpoint holds the last good weights: those from before the first bad step.
    saved = model_state_dict(load_checkpoint(path))
    assert same({k: saved[k] for k in poison.before[2]}, poison.before[2])


def test_max_bad_steps_must_be_positive():
    with pytest.raises(ValueError, match="max_bad_steps=0"):
        CausalLMModule(max_bad_steps=0)
