"""GRPO gradient memory under FSDP2 is what ``python -m mist_pl.plan`` says, for both
gradient-sync settings: reduce-scatter after every micro-batch (default: only sharded
gradients accumulate) and ``grpo.defer_grad_sync`` (every layer's unsharded fp32
gradient is held until the step's last micro-batch). Measured on two gloo ranks.

Before: GRPO always deferred (the planner counted one layer's unsharded gradients), and
the prompt-shared forward kept every layer gathered through backward under FSDP2."""

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mist_pl.models.factory import ModelConfig, build_tokenizer
from mist_pl.models.tiny import tiny_config
from mist_pl.planning.dims import resolve_dims
from mist_pl.planning.memory import phase_components
from mist_pl.planning.workload import workload_from_recipe

SCRIPT = Path(__file__).with_name("grpo_memory_script.py")
TOLERANCE = 0.15  # the planner's stated accuracy (also tests/ops/test_plan.py)
# Parameter-heavy, small vocabulary: gradients and optimizer state dominate (26M parameters).
SHAPE = dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4)


def planned_training_bytes(folder: Path, prompt_tokens: int, defer: bool) -> float:
    """The planner's training-phase bytes per rank, less the sharded parameters (held
    before training starts, like the measurement's baseline)."""
    sys.path.insert(0, str(SCRIPT.parent))
    import grpo_memory_script as script

    recipe = {"trainer": {"max_steps": 2, "precision": "32-true"},
              "model": {"class_path": "mist_pl.modules.grpo.GRPOModule", "init_args": {
                  "lm": {"name_or_path": str(folder), "attn_implementation": "sdpa"},
                  "grpo": {**script.GRPO, "defer_grad_sync": defer}, "sampling": script.SAMPLING}},
              "data": {"init_args": {"max_prompt_tokens": prompt_tokens}}}
    training = phase_components(resolve_dims(str(folder)), workload_from_recipe(recipe), world=2,
                                attention="sdpa")["training"]
    return sum(training.values()) - training["parameters (sharded)"]


@pytest.mark.slow  # two 2-process training runs: ~1 min on 2 cores
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/clear_refs").exists(),
                    reason="the measurement fixes glibc's mmap threshold and resets Linux's peak RSS")
def test_peak_memory_matches_the_planner_for_both_gradient_sync_settings(tmp_path):
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "model"
    tokenizer = build_tokenizer(ModelConfig())
    torch.manual_seed(0)
    config = tiny_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, **SHAPE)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    measured, planned = {}, {}
    for defer in (False, True):
        out = tmp_path / f"defer{int(defer)}"
        out.mkdir()
        done = subprocess.run([sys.executable, str(SCRIPT), str(folder), str(out), str(int(defer))], cwd=out,
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
        measured[defer] = max(r["delta_bytes"] for r in ranks)
        planned[defer] = planned_training_bytes(folder, ranks[0]["prompt_tokens"], defer)
        assert measured[defer] == pytest.approx(planned[defer], rel=TOLERANCE), (defer, measured, planned)
    # Deferring costs what the planner adds for it: unsharded fp32 gradients, less the sharded ones.
    assert measured[True] - measured[False] > 0.5 * (planned[True] - planned[False]) > 0
