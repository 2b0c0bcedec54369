"""FSDP2 on two CPU processes: train, write a sharded checkpoint, reload it in one process."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mist_pl.export import load_checkpoint, model_state_dict
from mist_pl.export import main as export_main
from mist_pl.modules.causal_lm import CausalLMModule

SCRIPT = Path(__file__).with_name("fsdp_cpt_script.py")


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory, mix_file):
    root = tmp_path_factory.mktemp("fsdp")
    out = subprocess.run([sys.executable, str(SCRIPT), str(mix_file), str(root)], capture_output=True, text=True,
                         timeout=300, cwd=root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("FSDP-CPT-OK"))
    fields = dict(part.split("=") for part in line.split()[1:])
    return root, {k: float(v) for k, v in fields.items()}, torch.load(root / "full_weights.pt", weights_only=True)


@pytest.mark.slow
def test_two_process_run_trains_and_writes_a_sharded_checkpoint(sharded_run):
    root, fields, _ = sharded_run
    assert fields["steps"] == 6
    assert fields["last"] < fields["first"]
    assert fields["grad_norm"] > 0  # clipping computed a norm over the DTensor gradients
    folder = root / "sharded.ckpt"
    assert folder.is_dir() and (folder / ".metadata").is_file() and (folder / "meta.pt").is_file()
    assert len(list(folder.glob("*.distcp"))) == 2  # one shard file per rank


@pytest.mark.slow
def test_sharded_checkpoint_consolidates_to_the_gathered_weights(sharded_run):
    root, _, full = sharded_run
    checkpoint = load_checkpoint(root / "sharded.ckpt")
    state = model_state_dict(checkpoint)
    assert set(state) == set(full)
    for name, tensor in full.items():
        assert torch.equal(state[name], tensor), name
    assert checkpoint["global_step"] == 6
    assert checkpoint["hyper_parameters"]["lm"]["name_or_path"] == "tiny"


@pytest.mark.slow
def test_sharded_checkpoint_initializes_a_one_process_module(sharded_run):
    root, _, full = sharded_run
    module = CausalLMModule(init_from_ckpt=str(root / "sharded.ckpt"))
    module.configure_model()
    own = module.model.state_dict()
    for name, tensor in full.items():
        assert torch.equal(own[name], tensor), name


@pytest.mark.slow
def test_sharded_checkpoint_exports_to_a_hf_folder(sharded_run, tmp_path):
    from transformers import AutoModelForCausalLM

    root, _, full = sharded_run
    export_main(["--ckpt", str(root / "sharded.ckpt"), "--out", str(tmp_path / "hf")])
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    state = exported.state_dict()
    for name, tensor in full.items():
        assert torch.equal(state[name], tensor), name
