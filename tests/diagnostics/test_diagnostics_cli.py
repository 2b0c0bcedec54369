"""``python -m mist_pl.diagnostics`` on a tiny exported folder and a Lightning checkpoint."""

import json
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch

from mist_pl.diagnostics.__main__ import main
from mist_pl.diagnostics.molecules import read_smiles
from mist_pl.diagnostics.scs import run_scs
from mist_pl.models.factory import ModelConfig


@pytest.fixture(scope="module")
def hf_folder(tiny_model, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-hf")
    tiny_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lightning_ckpt(tiny_model, tmp_path_factory):
    """What a mist-pl module's checkpoint holds: weights under ``model.`` and the lm config."""
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    state = {f"model.{k}": v for k, v in tiny_model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"lm": asdict(ModelConfig())}}, path)
    return path


def test_scs_from_folder_with_tensorboard(hf_folder, tmp_path):
    out = tmp_path / "out"
    printed = main(["scs", "--model", str(hf_folder), "--out", str(out), "--limit", "12", "--tensorboard"])
    summary = json.loads((out / "scs_summary.json").read_text())
    assert summary["counts"]["read"] == 12 and printed["scs"]["metrics"] == summary["metrics"]
    assert (out / "scs_items.csv").is_file() and list((out / "tensorboard").glob("events.*"))


def test_checkpoint_weights_are_loaded(tiny_model, tokenizer, lightning_ckpt, tmp_path):
    # Compared with the in-memory model, not the exported folder: a folder's tokenizer
    # reloads as Qwen2Tokenizer, whose pre-tokenizer splits "12" into "1", "2".
    from_ckpt = main(["scs", "--ckpt", str(lightning_ckpt), "--out", str(tmp_path), "--limit", "6"])
    direct = run_scs(tiny_model, tokenizer, read_smiles(limit=6)).summary["metrics"]
    assert from_ckpt["scs"]["metrics"]["mean_true"] == pytest.approx(direct["mean_true"], abs=1e-5)


def test_ccs_and_ls(hf_folder, tmp_path):
    out = tmp_path / "out"
    main(["ccs", "--model", str(hf_folder), "--out", str(out), "--limit", "6"])
    assert json.loads((out / "ccs_summary.json").read_text())["counts"]["scored"] > 0
    printed = main(["ls", "--model", str(hf_folder), "--out", str(out), "--task", "rxn_true_false", "--limit", "3",
                    "--k", "2", "--max-new-tokens", "4", "--variant", "both"])
    assert set(printed) == {"ls_d", "ls_passk"}
    assert (out / "ls_d_items.csv").is_file() and (out / "ls_passk_summary.json").is_file()


def test_module_entry_point(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mist_pl.diagnostics", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "scs" in run.stdout and "ls" in run.stdout


def test_missing_model_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        main(["scs", "--out", str(tmp_path), "--limit", "2"])


def test_ls_context_options():
    from mist_pl.diagnostics.__main__ import build_parser, options_from

    def options(*extra):
        return options_from(build_parser().parse_args(["ls", "--out", "o", "--task", "rxn_mcq", *extra]))

    assert (options().ls_context, options().max_think_tokens) == ("generated", 192)
    assert options("--think", "Given.").ls_context == "fixed"  # a given reasoning is the fixed context
    assert options("--context", "fixed").think == ""
    assert options("--context", "generated", "--max-think-tokens", "64").max_think_tokens == 64
