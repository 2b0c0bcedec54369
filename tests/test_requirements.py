"""The minimum versions the code needs: stated once in mist_pl/requirements.py, the same in
pyproject.toml and the README, and enforced at ``import mist_pl`` with a clear message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from mist_pl.requirements import MINIMUM_VERSIONS, RequirementError, at_least, check_versions, version_tuple

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_states_the_minimums_the_code_checks():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    stated = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)", d.split(";")[0].strip()).groups()
                  for d in dependencies if ">=" in d)
    for name, (minimum, _) in MINIMUM_VERSIONS.items():
        assert stated[name] == minimum, (name, stated[name], minimum)


def test_readme_states_the_same_minimums():
    readme = (REPO / "README.md").read_text()
    for name, (minimum, _) in MINIMUM_VERSIONS.items():
        assert f"{name} >= {minimum}" in readme, name


def test_the_installed_versions_pass():
    check_versions()


def test_older_versions_fail_naming_package_version_and_reason():
    with pytest.raises(RequirementError) as caught:
        check_versions({"torch": "2.4.1+cpu", "transformers": "4.46.3"})
    message = str(caught.value)
    assert "torch>=2.7 is needed (FSDP2" in message and "installed: torch 2.4.1+cpu" in message
    assert "transformers>=5.0 is needed (DynamicCache(config=...)" in message and "installed: transformers 4.46.3" in message
    assert "pip install 'torch>=2.7' 'transformers>=5.0'" in message
    with pytest.raises(RequirementError, match="transformers") as only:
        check_versions({"torch": "2.13.0", "transformers": "4.57.1"})
    assert "torch>=" not in str(only.value)
    check_versions({"torch": "2.7.0", "transformers": "5.0.0rc1"})  # the minimums themselves pass
    check_versions({"torch": None, "transformers": None})  # not installed: their own import fails later


def test_version_parsing():
    assert version_tuple("2.13.0+cpu") == (2, 13, 0) and version_tuple("5.0.0rc1") == (5, 0, 0)
    assert at_least("2.10", "2.7") and not at_least("2.6.9", "2.7") and at_least("5", "5.0")
    with pytest.raises(ValueError, match="'dev'"):
        version_tuple("dev")


def test_import_fails_at_once_below_the_minimum(tmp_path):
    """A stand-in torch distribution of version 2.4.0 placed first on the path."""
    fake = tmp_path / "torch-2.4.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.4.0\n")
    code = "import mist_pl"
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path), "PATH": ""},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "RequirementError: mist-pl cannot run with these versions: torch>=2.7 is needed" in result.stderr
