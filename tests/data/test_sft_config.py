"""The shipped SFT run config: every key type-checks through the CLI and names the SFT
module, the mixture data module and the SFT mixture."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mist_pl.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.filterwarnings("ignore:LightningCLI.s args parameter")
def test_sft_config_parses(capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repository root, as in the README
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", "conf/tiny/sft.yaml", "--print_config"])
    assert done.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "mist_pl.modules.sft.SFTModule"
    data = config["data"]
    assert data["class_path"] == "mist_pl.data.datamodule.MixtureDataModule"
    assert data["init_args"]["mixture"] == "conf/data/sft_tiny.yaml" and data["init_args"]["pack"] is True
    cpt = yaml.safe_load((REPO / "conf/tiny/cpt.yaml").read_text())["trainer"]
    assert config["trainer"]["accelerator"] == cpt["accelerator"] == "cpu"
