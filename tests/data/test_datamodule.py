"""The data module: batch contract, identical batches for any worker count, exact resume."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.datasets import MixtureStream
from mist_pl.modules.base import log_data_metrics

BATCH, SEQ_LEN = 4, 48


def make_dm(mixture, **kwargs) -> MixtureDataModule:
    dm = MixtureDataModule(mixture, seq_len=SEQ_LEN, batch_size=BATCH, val_fraction=0.1, **kwargs)
    dm.setup("fit")
    return dm


def take(loader, n, dm=None):
    """First ``n`` batches; with ``dm``, each is marked consumed as Lightning's hook would."""
    out = []
    for batch in loader:
        if dm is not None:
            dm.mark_consumed(batch)
        out.append(batch)
        if len(out) == n:
            break
    return out


def assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_batch_contract(text_mixture):
    dm = make_dm(text_mixture)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"input_ids", "labels", "position_ids", "source_ids", "sample_index"}
    for key in ("input_ids", "labels", "position_ids"):
        assert batch[key].shape == (BATCH, SEQ_LEN) and batch[key].dtype == torch.long
    assert batch["source_ids"].shape == (BATCH,) and batch["sample_index"].tolist() == [0, 1, 2, 3]
    assert set(batch["source_ids"].tolist()) <= {0, 1, 2}
    assert dm.source_names == ["alpha", "beta", "gamma"]
    # Decoding a row shows documents of the source named by source_ids.
    text = dm.tokenizer.decode(batch["input_ids"][0])
    assert dm.source_names[batch["source_ids"][0]] in text
    assert all(0.5 < e <= 1.0 for e in dm.packing_efficiency().values())

    val = list(dm.val_dataloader())
    assert val and "sample_index" not in val[0]
    assert val[0]["input_ids"].shape[1] == SEQ_LEN
    assert set(torch.cat([b["source_ids"] for b in val]).tolist()) == {0, 1, 2}


def test_batches_do_not_depend_on_worker_count(text_mixture):
    reference = take(make_dm(text_mixture).train_dataloader(), 7)
    with_workers = take(make_dm(text_mixture, num_workers=2).train_dataloader(), 7)
    assert_same(reference, with_workers)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_epoch_continues_with_the_same_batches(text_mixture, num_workers):
    reference = take(make_dm(text_mixture).train_dataloader(), 12)

    first = make_dm(text_mixture, num_workers=num_workers)
    seen = take(first.train_dataloader(), 5, dm=first)  # workers have prefetched more than 5
    state = first.state_dict()
    assert state["consumed_samples"] == 5 * BATCH

    resumed = MixtureDataModule(text_mixture, seq_len=SEQ_LEN, batch_size=BATCH, val_fraction=0.1, num_workers=num_workers)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    rest = take(resumed.train_dataloader(), 7)
    assert_same(seen + rest, reference)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_epochs_continue_the_stream(text_mixture, num_workers):
    dm = make_dm(text_mixture, num_workers=num_workers)
    loader = dm.train_dataloader()
    epoch1 = take(loader, 10_000, dm=dm)
    epoch2 = take(loader, 3, dm=dm)
    assert len(epoch1) == len(loader)
    last = epoch1[-1]["sample_index"][-1].item()
    assert epoch2[0]["sample_index"].tolist() == list(range(last + 1, last + 1 + BATCH))


def test_ranks_read_disjoint_interleaved_samples(text_mixture):
    dm = make_dm(text_mixture)
    streams = [MixtureStream(dm._mixture, BATCH, 10, start=8, rank=r, world_size=2) for r in range(2)]
    indices = [torch.cat([b["sample_index"] for b in take(s, 3)]).tolist() for s in streams]
    assert set(indices[0]).isdisjoint(indices[1])
    assert sorted(indices[0] + indices[1]) == list(range(8, 8 + 2 * 3 * BATCH))
    assert indices[1][:3] == [9, 11, 13]
    # A rank's row equals the single-process row with the same global index.
    single = dm._mixture.sample(9)[1][0]
    assert torch.equal(take(streams[1], 1)[0]["input_ids"][0], torch.from_numpy(single))


class Recorder(L.LightningModule):
    """Records which samples each training step received."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(512, 1)
        self.seen: list[list[int]] = []

    def on_train_batch_start(self, batch, batch_idx):
        log_data_metrics(self.trainer)  # as LMModule does: the data module logs nothing itself

    def training_step(self, batch, batch_idx):
        self.seen.append(batch["sample_index"].tolist())
        return self.embedding(batch["input_ids"]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class MemoryLogger(Logger):
    name, version = "memory", 0

    def __init__(self):
        super().__init__()
        self.metrics: list[tuple[int, dict]] = []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    @property
    def experiment(self):
        return None


def fit(dm, ckpt_dir, max_steps, ckpt_path=None, logger=False):
    model = Recorder()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, limit_train_batches=4, limit_val_batches=0,
        logger=logger, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[ModelCheckpoint(dirpath=ckpt_dir, filename="{step}", every_n_train_steps=2, save_top_k=-1)],
        log_every_n_steps=1,
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return model.seen


@pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`")
@pytest.mark.filterwarnings("ignore:The dirpath has changed")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_lightning_resume_from_checkpoint_sees_the_uninterrupted_batches(text_mixture, tmp_path, num_workers):
    """limit_train_batches=4 makes epochs end every 4 steps: step 4 ends an epoch, step 6 is mid-epoch.

    Lightning restores loader state only for mid-epoch restarts; the data module's state
    covers both cases."""
    kwargs = dict(seq_len=SEQ_LEN, batch_size=BATCH, num_workers=num_workers, log_mixture_every_n_batches=2)
    logger = MemoryLogger()
    full = fit(MixtureDataModule(text_mixture, **kwargs), tmp_path / "full", max_steps=10, logger=logger)
    assert [s[0] for s in full] == [i * BATCH for i in range(10)]  # the stream continues across epochs

    for step in (4, 6):
        checkpoint = torch.load(tmp_path / "full" / f"step={step}.ckpt", weights_only=False)
        assert checkpoint["MixtureDataModule"]["consumed_samples"] == step * BATCH
        loader_state = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"]
        assert loader_state == [{"consumed_samples": step * BATCH}]
        again = MixtureDataModule(text_mixture, **kwargs)
        resumed = fit(again, tmp_path / f"from{step}", 10, ckpt_path=tmp_path / "full" / f"step={step}.ckpt")
        assert resumed == full[step:]
        assert again.consumed_samples == 10 * BATCH

    # The realized mixture was logged, and its rows add up to the samples consumed so far.
    step, metrics = logger.metrics[-1]
    shares = {k: v for k, v in metrics.items() if k.startswith("data/token_share/")}
    assert set(shares) == {"data/token_share/alpha", "data/token_share/beta", "data/token_share/gamma"}
    assert sum(shares.values()) == pytest.approx(1.0)


def test_token_budgets_define_the_mixture_epoch(text_mixture):
    budgets = {"alpha": 3000, "beta": 1000, "gamma": 500}
    for source in text_mixture["sources"]:
        source["tokens"] = budgets[source["name"]]
        del source["weight"]
    dm = make_dm(text_mixture)
    epoch_rows = int(dm._mixture.schedule.epoch_rows)
    realized = dm.realized_mixture(epoch_rows)
    for name, budget in budgets.items():
        # ceil(budget / mean tokens per row) rows: the budget, up to row-length rounding.
        assert abs(realized[name]["tokens"] - budget) < 2 * SEQ_LEN
        assert realized[name]["target_share"] == pytest.approx(budget / sum(budgets.values()))
    assert len(dm.train_dataloader()) == epoch_rows // BATCH


def test_split_documents_packs_without_padding(text_mixture):
    whole = make_dm(text_mixture).packing_efficiency()
    split = make_dm(text_mixture, split_documents=True).packing_efficiency()
    for name in whole:
        assert split[name] > 0.95 and split[name] >= whole[name]
