"""TokenThroughput: real tokens/s over windows of log_every_n_steps batches, and MFU of
real tokens when the device's peak FLOP/s is known (given here; on CPU Lightning's table
has none). Padding is counted neither as tokens nor as FLOPs."""

import time

import lightning as L
import pytest
import torch
from cpt_helpers import quiet_trainer
from lightning.pytorch.loggers import Logger

from mist_pl.callbacks.throughput import (
    ThroughputMonitor,
    TokenThroughput,
    batch_flops,
    flops_per_token,
    real_tokens_per_row,
)
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.packing import pack_documents
from mist_pl.modules.causal_lm import CausalLMModule

PEAK = 2.0e11  # a made-up peak FLOP/s, so MFU is a checkable number


class StepClock(L.Callback):
    """When each batch ended, by the test's own clock, and the batches themselves."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.batches: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ends.append(time.perf_counter())
        self.batches.append({k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)})


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
    rows = torch.tensor([64, 10])
    assert batch_flops(model, rows) == pytest.approx(64 * flops_per_token(model, 64) + 10 * flops_per_token(model, 10))


@pytest.mark.parametrize("pad, eos", [(1, 0), (0, 0)], ids=["own-pad", "eos-pads"])
def test_real_tokens_leave_out_the_trailing_padding_block(pad, eos):
    docs = [[5, 6, 7], [8, 9, 10, 11, 12], [13, 14]]
    for pack in (True, False):
        batch, _ = pack_documents(docs, seq_len=8, eos_id=eos, pad_id=pad, pack=pack)
        counted = int(real_tokens_per_row(batch, pad).sum())
        assert counted == sum(len(d) + 1 for d in docs)  # each document and its EOS
        assert counted < batch["input_ids"].numel()
    full, _ = pack_documents([list(range(5, 12))], seq_len=8, eos_id=eos, pad_id=pad)
    assert real_tokens_per_row(full, pad).tolist() == [8]  # no padding at all
    masked = {"input_ids": torch.ones(2, 5, dtype=torch.long), "attention_mask": torch.tensor([[0, 0, 1, 1, 1], [1] * 5])}
    assert real_tokens_per_row(masked, pad).tolist() == [3, 5]


def test_tokens_per_second_and_mfu_count_real_tokens(tmp_path, mix_file):
    L.seed_everything(0, verbose=False)
    module = CausalLMModule()
    clock, metrics = StepClock(), MemoryLogger()
    # One document per padded row (pack: false), as unpacked SFT rows are.
    trainer = quiet_trainer(tmp_path, max_steps=6, log_every_n_steps=2, logger=metrics,
                            callbacks=[clock, TokenThroughput(peak_flops=PEAK)])
    trainer.fit(module, datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=4, pack=False))

    pad = module.tokenizer.pad_token_id
    assert pad != module.tokenizer.eos_token_id  # so padding is simply every pad id here
    assert len(metrics.logged) == 3  # after batches 2, 4 and 6
    for window, logged in enumerate(metrics.logged[1:], start=1):
        # Windows after the first run from the previous window's end to this one's.
        elapsed = clock.ends[2 * window + 1] - clock.ends[2 * window - 1]
        batches = clock.batches[2 * window : 2 * window + 2]
        rows = torch.cat([(b["input_ids"] != pad).sum(-1) for b in batches])
        positions = sum(b["input_ids"].numel() for b in batches)
        assert rows.sum() < positions  # there is padding to leave out
        assert logged["perf/tokens_per_s"] == pytest.approx(int(rows.sum()) / elapsed, rel=0.1)
        assert logged["perf/padding_frac"] == pytest.approx(1 - int(rows.sum()) / positions)
        assert logged["perf/tokens_per_s_per_device"] == logged["perf/tokens_per_s"]  # one device
        assert logged["perf/samples_per_s"] == pytest.approx(logged["perf/tokens_per_s"] * len(rows) / int(rows.sum()))
        flops = 6 * sum(p.numel() for p in module.model.parameters()) * rows.sum() + 12 * 4 * 256 * (rows**2).sum()
        expected_mfu = logged["perf/tokens_per_s"] * float(flops) / int(rows.sum()) / PEAK
        assert logged["perf/mfu"] == pytest.approx(expected_mfu, rel=1e-6)
        assert 0 < logged["perf/mfu"] < 1


def test_no_mfu_on_cpu_without_a_peak(tmp_path, mix_file):
    metrics = MemoryLogger()
    trainer = quiet_trainer(tmp_path, max_steps=2, log_every_n_steps=1, logger=metrics, callbacks=[TokenThroughput()])
    trainer.fit(CausalLMModule(), datamodule=MixtureDataModule(str(mix_file), seq_len=64, batch_size=2))
    assert metrics.logged and all("perf/mfu" not in m and m["perf/tokens_per_s"] > 0 for m in metrics.logged)


def test_the_old_name_still_loads_and_says_so(caplog):
    with caplog.at_level("WARNING"):
        old = ThroughputMonitor(peak_flops=PEAK)
    assert isinstance(old, TokenThroughput) and "TokenThroughput" in caplog.text


def test_the_flops_peak_follows_the_modules_bf16_choice():
    """One bf16 choice (modules.base.compute_dtype) for FSDP2's compute dtype and the MFU peak."""
    import torch

    from mist_pl.modules.base import compute_dtype

    assert compute_dtype("bf16-mixed") is compute_dtype("bf16-true") is torch.bfloat16
    assert compute_dtype("16-mixed") is compute_dtype("32-true") is compute_dtype(None) is None
