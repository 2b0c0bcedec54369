"""The package needs nothing but itself: no folder beside the repository, no file of the
checkout, no working directory; what it reads at run time ships as package data.

Checked three ways: the source never climbs out of the package; the shipped configs and
fixtures resolve from a temporary directory; and a wheel built from the sources holds them,
installed elsewhere and run from yet another directory.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mist_pl import shipped
from mist_pl.data.config import load_mixture
from mist_pl.data.errors import DataConfigError

PACKAGE = Path(shipped.__file__).resolve().parent
REPO = PACKAGE.parent
# What the package reads at run time, relative to the package.
REQUIRED_DATA = [
    "conf/tiny/cpt.yaml", "conf/tiny/sft.yaml", "conf/tiny/grpo_rxn_naming.yaml", "conf/tiny/grpo_cond_mat_gen.yaml",
    "conf/tiny/grpo_toy.yaml", "conf/data/chem_mix_tiny.yaml", "conf/data/sft_tiny.yaml",
    "conf/recipes/cpt_qwen2.5-3b.yaml", "assets/general_text.txt", "assets/mist_demo/LICENSE.apache-2.0",
    "assets/mist_demo/README.md", "assets/mist_demo/reactions/rxn_truefalse_sample.csv",
    "assets/mist_demo/pubchem/CRLLM-PubChem-compounds1M.sample.csv", "assets/mist_demo/rxnpred_tiny/src-train.txt",
    "assets/mist_demo/crystalrelax_tiny/tgt-train.txt", "tasks/sources/samples/reaction_classes.csv",
]


def _parents_index(node: ast.AST) -> int | None:
    """N of a ``....parents[N]`` subscript, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
            return node.slice.value
    return None


def _climbs_up(node: ast.AST) -> bool:
    """A string literal that is a relative path starting above where it is read (``"../x"``)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.replace("\\", "/").startswith("../")


def test_no_module_climbs_out_of_the_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        depth = len(path.relative_to(PACKAGE).parts) - 1  # parents[depth] is the package folder itself
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            index = _parents_index(node)
            if index is not None and index > depth:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} parents[{index}]")
            if _climbs_up(node):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert not offenders, offenders


def test_conf_in_the_repository_is_the_package_copy():
    assert (REPO / "conf").resolve() == shipped.CONF


def test_every_required_file_ships_and_declares_where_it_came_from():
    for relative in REQUIRED_DATA:
        assert (PACKAGE / relative).is_file(), relative
    readme = (shipped.MIST_DEMO / "README.md").read_text()
    assert "schwallergroup/mist" in readme and "Apache-2.0" in readme
    assert not list(shipped.MIST_DEMO.rglob("*.pkl"))  # no pickles ship


def test_configs_and_fixtures_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_mixture("conf/data/chem_mix_tiny.yaml")  # how conf/tiny/cpt.yaml names its mixture
    assert cfg.origin == str(shipped.CONF / "data" / "chem_mix_tiny.yaml")
    assert shipped.resolve_config("tiny/sft.yaml") == shipped.CONF / "tiny" / "sft.yaml"
    from mist_pl.data.datamodule import MixtureDataModule

    assert load_mixture(MixtureDataModule().mixture).name == cfg.name  # the default mixture
    with pytest.raises(DataConfigError, match=r"mixture file not found: mixture='conf/data/nope.yaml'.*shipped: conf/"):
        load_mixture("conf/data/nope.yaml")
    assert shipped.shipped_config("../pyproject.toml") is None and shipped.shipped_config("/etc/passwd") is None
    own = tmp_path / "conf" / "data" / "chem_mix_tiny.yaml"  # a file of the same name here wins
    own.parent.mkdir(parents=True)
    own.write_text((shipped.CONF / "data" / "chem_mix_tiny.yaml").read_text().replace("chem_mix_tiny", "mine"))
    assert load_mixture("conf/data/chem_mix_tiny.yaml").name == "mine"


def test_cli_runs_a_shipped_config_from_another_directory_and_logs_each_line_once(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mist_pl.cli", "fit", "--config", "conf/tiny/grpo_toy.yaml", "--trainer.max_steps=1",
         "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert out.count("`max_steps=1` reached") == 1, out[-3000:]  # Lightning's INFO lines, once each
    assert "Tip:" not in out and "litlogger" not in out
    assert (tmp_path / "runs" / "grpo_toy").is_dir()


def test_demo_logging_keeps_warnings_and_drops_lightning_info(capsys):
    import logging

    from mist_pl.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("lightning", "lightning.pytorch")}
    try:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        configure_logging(logging.WARNING, lightning_level=logging.WARNING)
        configure_logging(logging.WARNING, lightning_level=logging.WARNING)  # again: still one handler
        handlers = [h for h in root.handlers if type(h) is logging.StreamHandler]
        assert len(handlers) == 1 and not logging.getLogger("lightning").handlers
        lightning = logging.getLogger("lightning.pytorch.utilities.rank_zero")
        lightning.info("GPU available: False")
        lightning.warning("💡 Tip: For seamless cloud logging, try installing litlogger")
        lightning.warning("a real warning")
        err = capsys.readouterr().err
        assert err.count("a real warning") == 1 and "GPU available" not in err and "Tip" not in err
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.slow
def test_a_wheel_built_from_the_sources_runs_from_elsewhere(tmp_path):
    """pip builds the wheel offline from a copy of the sources (the checkout stays clean),
    it is unpacked into a folder of its own, and the package runs from a third directory."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(PACKAGE, source / "mist_pl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("mist_pl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"mist_pl/{relative}" for relative in REQUIRED_DATA} <= names
        archive.extractall(tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import json, mist_pl\n"
        "from mist_pl.data.config import load_mixture\n"
        "from mist_pl.tasks.build import main\n"
        "from mist_pl.shipped import config_file, mist_demo_file\n"
        "cfg = load_mixture('conf/data/sft_tiny.yaml')\n"
        "rc = main(['--task', 'rxn_true_false', '--out', 'tf', '--no-sft'])\n"
        "print(json.dumps({'package': mist_pl.__file__, 'mixture': cfg.origin, 'rc': rc,\n"
        "                  'demo': str(mist_demo_file('reactions/rxn_truefalse_sample.csv'))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    site = str(tmp_path / "site")
    assert seen["package"].startswith(site) and seen["mixture"].startswith(site) and seen["demo"].startswith(site)
    assert seen["rc"] == 0 and (elsewhere / "tf" / "train.jsonl").is_file()
