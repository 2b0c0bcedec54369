"""The LightningCLI entry point as a user runs it: `python cli.py fit --config ...`."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# A small mixture so the CLI test spends its time in the CLI, not in preprocessing.
SMALL_MIX = {
    "name": "cli_test_mix",
    "seed": 7,
    "tokenizer": "mist-chem",
    "sources": [
        {"name": "molecules", "corpus": "rdkit_nci", "weight": 0.6, "max_records": 200},
        {"name": "text", "corpus": "general_text", "weight": 0.4},
    ],
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def small_mix(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "mix.yaml"
    path.write_text(yaml.safe_dump(SMALL_MIX))
    return path


@pytest.mark.slow
def test_fit_writes_checkpoint_and_tensorboard_events(tmp_path, small_mix):
    result = run_cli(
        "fit", "--config", str(REPO / "conf/tiny/cpt.yaml"),
        "--trainer.max_steps", "4", "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1",
        "--data.mixture", str(small_mix), "--data.seq_len", "64", "--data.batch_size", "2",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "cpt_tiny" / "version_0"
    assert list(run_dir.glob("events.out.tfevents.*")), list(run_dir.iterdir())
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert "TensorBoard logs:" in result.stdout and "checkpoint:" in result.stdout


def test_print_config_is_complete(tmp_path):
    result = run_cli("fit", "--config", str(REPO / "conf/tiny/cpt.yaml"), "--print_config", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load(result.stdout)
    lm = config["model"]["init_args"]["lm"]
    assert lm["name_or_path"] == "tiny" and lm["attn_implementation"] == "auto"
    assert config["model"]["init_args"]["optim"]["schedule"] == "cosine"
    assert config["data"]["init_args"]["mixture"] == "conf/data/chem_mix_tiny.yaml"
    assert config["trainer"]["max_steps"] == 150


def test_typo_in_a_key_is_named(tmp_path):
    result = run_cli("fit", "--config", str(REPO / "conf/tiny/cpt.yaml"), "--model.lm.nme_or_path", "tiny",
                     "--print_config", cwd=REPO)
    assert result.returncode != 0
    assert "nme_or_path" in result.stderr


def test_missing_model_folder_fails_at_start_naming_field_and_value(tmp_path):
    result = run_cli("fit", "--config", str(REPO / "conf/tiny/cpt.yaml"),
                     "--model.lm.name_or_path", "/no/such/model", cwd=REPO)
    assert result.returncode != 0
    assert "name_or_path='/no/such/model'" in result.stderr
    assert "Epoch" not in result.stdout  # nothing was trained


def test_wrong_type_fails_naming_field(tmp_path):
    result = run_cli("fit", "--config", str(REPO / "conf/tiny/cpt.yaml"), "--model.optim.lr", "fast",
                     "--print_config", cwd=REPO)
    assert result.returncode != 0
    assert "lr" in result.stderr and "fast" in result.stderr
