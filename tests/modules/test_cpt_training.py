"""A short CPT run on a small mixture: the loss falls and validation is reported per source."""

import math

import lightning as L
import pytest
from cpt_helpers import RecordLosses, quiet_trainer

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.optim import OptimConfig


@pytest.fixture(scope="module")
def cpt_run(tmp_path_factory, mix_file):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule(optim=OptimConfig(lr=3e-3, warmup_steps=3, schedule="cosine"))
    data = MixtureDataModule(str(mix_file), seq_len=64, batch_size=4, val_fraction=0.1)
    record = RecordLosses()
    trainer = quiet_trainer(
        tmp_path_factory.mktemp("run"), max_steps=40, callbacks=[record], gradient_clip_val=1.0,
        limit_val_batches=4, val_check_interval=40, check_val_every_n_epoch=None,
    )
    trainer.fit(module, datamodule=data)
    return trainer, record.losses


def test_loss_falls(cpt_run):
    trainer, losses = cpt_run
    assert trainer.global_step == 40 and len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    # Random init starts near ln(vocab) (vocabulary of the tiny tokenizer, ~7.4); a few dozen
    # steps learn SMILES statistics.
    uniform = math.log(len(trainer.lightning_module.tokenizer))
    assert losses[0] > uniform - 0.5 and first > uniform - 1.5, (losses[0], first, uniform)
    assert last < first - 1.5, (first, last)


def test_validation_reports_perplexity_per_source(cpt_run):
    trainer, losses = cpt_run
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert "val_ppl/molecules" in metrics and "val/ppl" in metrics
    # Perplexity is exp(loss), and each source's value is finite and better than uniform.
    assert metrics["val/ppl"] == pytest.approx(2.718281828 ** metrics["val/loss"], rel=1e-4)
    assert 1.0 < metrics["val_ppl/molecules"] < 4096
    assert "train/grad_norm" in metrics  # clipping ran through configure_gradient_clipping
