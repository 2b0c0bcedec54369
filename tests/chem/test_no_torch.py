"""mist_pl.chem must stay importable without torch (it runs in data workers and rewards)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import mist_pl.chem as chem
names = [m.name for m in pkgutil.iter_modules(chem.__path__)]
for name in names:
    importlib.import_module(f"mist_pl.chem.{name}")
assert len(names) >= 10, names
heavy = [m for m in ("torch", "lightning", "transformers") if m in sys.modules]
print("LOADED", heavy)
sys.exit(1 if heavy else 0)
"""


def test_importing_every_chem_module_does_not_load_torch():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_import_is_lazy():
    code = "import sys, mist_pl.chem; print('pymatgen' in sys.modules, 'rdkit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stdout + result.stderr
