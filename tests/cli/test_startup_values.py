"""Values the CLI refuses at start-up, and shipped configs that must run as documented.

* A NaN or infinite float anywhere in the config (``sampling.temperature``, ``grpo.beta``,
  ``optim.lr``, ``optim.weight_decay``, ...) fails before anything is built, naming the key.
* ``--trainer.logger false`` with the shipped CPT/SFT configs trains: callbacks that only
  write to a logger (``LearningRateMonitor``) are left out with a warning instead of
  failing in ``on_train_start``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import yaml

from mist_pl.cli import main
from mist_pl.modules.base import LMModule

REPO = Path(__file__).resolve().parents[2]


class NothingBuilt(Exception):
    """Raised if a module is constructed: the bad value must stop the run before that."""


def refuse_to_build(self, *args, **kwargs):
    raise NothingBuilt("a module was built despite a non-finite setting")


def test_nonfinite_floats_are_refused_naming_every_key(tmp_path, monkeypatch):
    monkeypatch.setattr(LMModule, "__init__", refuse_to_build)
    override = tmp_path / "bad.yaml"
    override.write_text("model:\n  init_args:\n"
                        "    sampling: {temperature: .nan}\n"
                        "    grpo: {beta: .inf}\n"
                        "    optim: {lr: .inf, weight_decay: .inf}\n"
                        "trainer: {gradient_clip_val: -.inf}\n")
    with pytest.raises(ValueError) as info:
        main(["fit", f"--config={REPO / 'conf/tiny/grpo_toy.yaml'}", f"--config={override}"])
    message = str(info.value)
    for key in ("model.init_args.sampling.temperature=nan", "model.init_args.grpo.beta=inf",
                "model.init_args.optim.lr=inf", "model.init_args.optim.weight_decay=inf",
                "trainer.gradient_clip_val=-inf"):
        assert key in message, message
    assert "max_new_tokens" not in message  # only the bad keys are named


def no_logger_config(folder: Path, name: str) -> Path:
    """The shipped ``conf/tiny/<name>.yaml`` as it is, cut to one step on a small input."""
    config = yaml.safe_load((REPO / f"conf/tiny/{name}.yaml").read_text())
    config["trainer"].update(max_steps=1, enable_progress_bar=False, enable_model_summary=False,
                             limit_val_batches=0, num_sanity_val_steps=0, default_root_dir=str(folder))
    if name == "cpt":
        mix = {"name": "cli_test_mix", "seed": 7, "tokenizer": "mist-chem",
               "sources": [{"name": "text", "corpus": "general_text", "weight": 1.0}]}
        (folder / "mix.yaml").write_text(yaml.safe_dump(mix))
        config["data"]["init_args"].update(mixture=str(folder / "mix.yaml"), seq_len=64, batch_size=2)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cpt", "sft"])
def test_shipped_config_trains_without_a_logger(name, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    shipped = yaml.safe_load((REPO / f"conf/tiny/{name}.yaml").read_text())
    assert any(c["class_path"].endswith("LearningRateMonitor") for c in shipped["trainer"]["callbacks"]), \
        "the shipped config no longer has the logger-dependent callback this test is about"
    with caplog.at_level(logging.WARNING, logger="mist_pl.cli"):
        cli = main(["fit", f"--config={no_logger_config(tmp_path, name)}", "--trainer.logger=false"])
    assert cli.trainer.global_step == 1
    assert "LearningRateMonitor" in caplog.text and "no logger" in caplog.text
