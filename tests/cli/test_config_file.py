"""The resolved config of a run is written into the run's own folder, never over a user's
file: without a logger, Lightning's default would be ``./config.yaml`` in the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from mist_pl.cli import main

REPO = Path(__file__).resolve().parents[2]
USERS_FILE = "# my own notes, not a run's config\nlr: 0.1\n"


def tiny_run_config(folder: Path) -> Path:
    """conf/tiny/cpt.yaml: one step on a small mixture, checkpoints in the default folder."""
    mix = {"name": "cli_test_mix", "seed": 7, "tokenizer": "mist-chem",
           "sources": [{"name": "text", "corpus": "general_text", "weight": 1.0}]}
    (folder / "mix.yaml").write_text(yaml.safe_dump(mix))
    config = yaml.safe_load((REPO / "conf/tiny/cpt.yaml").read_text())
    config["trainer"].update(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             limit_val_batches=0, num_sanity_val_steps=0)
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                       "init_args": {"save_last": True}}]
    config["data"]["init_args"].update(mixture=str(folder / "mix.yaml"), seq_len=64, batch_size=2)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("logger, run_folder", [
    ("false", "checkpoints"),  # no logger: next to the run's checkpoints
    ('{"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": "runs"}}',
     "runs/lightning_logs/version_0"),
])
def test_config_yaml_in_the_working_directory_is_left_alone(tmp_path, monkeypatch, logger, run_folder):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(USERS_FILE)
    torch.set_num_threads(1)
    main(["fit", f"--config={tiny_run_config(tmp_path)}", f"--trainer.logger={logger}"])
    assert (tmp_path / "config.yaml").read_text() == USERS_FILE
    saved = yaml.safe_load((tmp_path / run_folder / "config.yaml").read_text())
    assert saved["trainer"]["max_steps"] == 1
    assert (saved["trainer"]["logger"] is False) == (logger == "false")
