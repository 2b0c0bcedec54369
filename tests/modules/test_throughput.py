"""ThroughputMonitor: tokens/s over windows of log_every_n_steps batches, and MFU when the
device's peak FLOP/s is known (given here; on CPU Lightning's table has none)."""

import time

import lightning as L
from lightning.pytorch.loggers import Logger
import pytest

from cpt_helpers import quiet_trainer
from mist_pl.callbacks.throughput import ThroughputMonitor, flops_per_token
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.modules.causal_lm import CausalLMModule

PEAK = 2.0e11  # a made-up peak FLOP/s, so MFU is a checkable number


class StepClock(L.Callback):
    """When each batch ended, by the test's own clock."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *args) -> None:
        self.ends.append(time.perf_counter())


class MemoryLogger(Logger):
    """Keeps the perf/ metrics of every logging call."""

    def __init__(self) -> None:
        super().__init__()
        self.logged: list[dict] = []

    name, version = "memory", 0

    def log_metrics(self, metrics, step=None) -> None:
        perf = {k: float(v) for k, v in metrics.items() if k.startswith("perf/")}
        if perf:
            self.logged.append(perf)

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


def test_flops_per_token_counts_a_tied_output_head():
    module = CausalLMModule()
    module.configure_model()
    model = module.model
    n_params = sum(p.numel() for p in model.parameters())  # the tied matrix once
    assert model.config.tie_word_embeddings
    assert flops_per_token(model, 64) == 6 * n_params + 12 * 4 * 256 * 64


def test_tokens_per_second_and_mfu(tmp_path, mix_file):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule()
    clock, metrics = StepClock(), MemoryLogger()
    # The clock stamps just before the monitor closes its window.
    trainer = quiet_trainer(tmp_path, max_steps=6, log_every_n_steps=2, logger=metrics,
                            callbacks=[clock, ThroughputMonitor(peak_flops=PEAK)])
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=4))

    assert len(metrics.logged) == 3  # after batches 2, 4 and 6
    tokens_per_window = 2 * 4 * 64
    for window, logged in enumerate(metrics.logged[1:], start=1):
        # Windows after the first run from the previous window's end to this one's.
        elapsed = clock.ends[2 * window + 1] - clock.ends[2 * window - 1]
        assert logged["perf/tokens_per_s"] == pytest.approx(tokens_per_window / elapsed, rel=0.1)
        assert logged["perf/tokens_per_s_per_device"] == logged["perf/tokens_per_s"]  # one device
        assert logged["perf/samples_per_s"] == pytest.approx(logged["perf/tokens_per_s"] / 64, rel=1e-6)
        expected_mfu = logged["perf/tokens_per_s"] * flops_per_token(module.model, 64) / PEAK
        assert logged["perf/mfu"] == pytest.approx(expected_mfu, rel=1e-6)
        assert 0 < logged["perf/mfu"] < 1


def test_no_mfu_on_cpu_without_a_peak(tmp_path, mix_file):
    metrics = MemoryLogger()
    trainer = quiet_trainer(tmp_path, max_steps=2, log_every_n_steps=1, logger=metrics, callbacks=[ThroughputMonitor()])
    trainer.fit(CausalLMModule(), datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    assert metrics.logged and all("perf/mfu" not in m and m["perf/tokens_per_s"] > 0 for m in metrics.logged)
