"""The diagnostics callback inside a real Lightning fit."""

import json

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers.logger import Logger

from mist_pl.callbacks.diagnostics import DiagnosticsCallback


class RecordingLogger(Logger):
    def __init__(self):
        super().__init__()
        self.records = []

    @property
    def name(self):
        return "recording"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.records.append((step, dict(metrics)))


class TinyLM(L.LightningModule):
    """The interface the callback needs: ``model`` and ``tokenizer`` attributes."""

    def __init__(self, model, tokenizer):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.modes = []

    def training_step(self, batch, batch_idx):
        self.modes.append(self.model.training)
        return self.model(input_ids=batch, labels=batch).loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.model.parameters(), lr=1e-3)


def fit(module, callback, steps, logger):
    data = torch.utils.data.DataLoader(torch.randint(0, 100, (16, 12)), batch_size=2)
    trainer = L.Trainer(max_steps=steps, logger=logger, callbacks=[callback], accelerator="cpu", devices=1,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, data)
    return trainer


def test_runs_every_n_steps_logs_and_restores_train_mode(tokenizer, tmp_path):
    from mist_pl.models.factory import ModelConfig, build_model

    torch.manual_seed(0)
    module = TinyLM(build_model(ModelConfig(), tokenizer), tokenizer)
    logger = RecordingLogger()
    callback = DiagnosticsCallback("scs", every_n_steps=2, at_start=True, limit=6, out_dir=str(tmp_path))
    fit(module, callback, steps=4, logger=logger)
    runs = [(step, m) for step, m in logger.records if "diagnostics/scs/scored" in m]
    assert [step for step, _ in runs] == [0, 2, 4]  # the end-of-fit run is not repeated at step 4
    assert all("diagnostics/scs/superiority" in m and "diagnostics/scs/seconds" in m for _, m in runs)
    assert all(module.modes) and len(module.modes) == 4  # every training step ran in train mode
    saved = json.loads((tmp_path / "step-000004" / "scs_summary.json").read_text())
    assert saved["counts"]["read"] == 6


def test_end_of_fit_run_and_ls_d(tokenizer, tmp_path):
    from mist_pl.models.factory import ModelConfig, build_model

    torch.manual_seed(0)
    module = TinyLM(build_model(ModelConfig(), tokenizer), tokenizer)
    logger = RecordingLogger()
    callback = DiagnosticsCallback("ls_d", every_n_steps=0, tasks=["rxn_mcq"], limit=3, out_dir=str(tmp_path))
    fit(module, callback, steps=1, logger=logger)
    runs = [step for step, m in logger.records if "diagnostics/ls_d/rxn_mcq/scored" in m]
    assert runs == [1]
    assert module.model.training  # fit leaves the module in train mode; the callback did not change it


def test_bad_arguments():
    with pytest.raises(ValueError):
        DiagnosticsCallback("nope")
    with pytest.raises(ValueError):
        DiagnosticsCallback("scs", every_n_steps=-1)
