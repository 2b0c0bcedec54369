"""Non-finite losses: each is reported with its step and batch origin, logged as skipped
and skipped (no weight change, no learning-rate schedule step); after ``max_bad_steps`` in
a row the run saves a checkpoint and stops with a one-line reason."""

import logging
import math

import lightning as L
import pytest
import torch
from cpt_helpers import model_weights, quiet_trainer
from lightning.pytorch.loggers import Logger

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.export import load_checkpoint, model_state_dict
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig, lr_multiplier


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


class EveryStepLogger(Logger):
    """Keeps every logging call's train/ metrics, in order (one call per step here)."""

    name, version = "memory", 0

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, float]] = []

    def log_metrics(self, metrics, step=None) -> None:
        train = {k: float(v) for k, v in metrics.items() if k.startswith("train/")}
        if train:
            self.calls.append(train)

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


class RecordLR(L.Callback):
    """The learning rate each batch runs with, read before its step."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_skipped_step_is_logged_as_skipped_not_as_the_last_finite_loss(tmp_path, mix_file):
    """Lightning keeps the last value of a key that a step does not log: TensorBoard showed
    step 1's loss at the skipped step 2, and ``train/skipped_steps`` stuck at 1 afterwards."""
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=1e-3, schedule="constant"), max_bad_steps=3)
    logger = EveryStepLogger()
    trainer = quiet_trainer(tmp_path, max_steps=5, callbacks=[PoisonBatches({2})], logger=logger,
                            log_every_n_steps=1)
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    calls = logger.calls
    assert len(calls) == 5, calls
    assert [c["train/skipped_steps"] for c in calls] == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert not math.isfinite(calls[2]["train/loss"])  # the loss that was skipped, not step 1's
    assert all(math.isfinite(calls[i]["train/loss"]) for i in (0, 1, 3, 4))


def test_skipped_step_does_not_advance_the_learning_rate_schedule(tmp_path, mix_file):
    L.seed_everything(0, verbose=False)
    optim = OptimConfig(lr=1e-3, schedule="cosine", warmup_steps=2, min_lr_ratio=0.1)
    module = CausalLMModule(optim=optim, max_bad_steps=3)
    lrs = RecordLR()
    trainer = quiet_trainer(tmp_path, max_steps=6, callbacks=[PoisonBatches({2}), lrs])
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    total = 6  # the schedule's length: max_steps
    expected = [1e-3 * lr_multiplier(s, total, optim) for s in (0, 1, 2, 2, 3, 4)]  # batch 3 reuses step 2's lr
    assert lrs.lrs == pytest.approx(expected)
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 5  # 6 batches, 1 skipped


def test_stopped_run_names_the_reason_on_the_module(tmp_path, mix_file):
    trainer, module, _ = run(tmp_path, mix_file, bad_batches=range(1, 100), max_steps=20, max_bad_steps=2)
    reason = module.stop_reason
    assert reason and "\n" not in reason
    assert "2 consecutive non-finite losses" in reason and "nonfinite-stop.ckpt" in reason
    assert "optim.lr" in reason and "max_bad_steps" in reason
