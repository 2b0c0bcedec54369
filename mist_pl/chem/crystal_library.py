"""Crystal structures that ship inside the pymatgen wheel (offline CIF sources).

Two places hold them:

* ``pymatgen/util/structures/*.json``: 21 structures pymatgen uses in its own
  tests (LiFePO4, SrTiO3, Si, CsCl, graphite, ...), names ``util:<file stem>``;
* ``pymatgen/analysis/prototypes/aflow_prototypes.json.gz``: 288 prototypes of
  the AFLOW encyclopedia, names ``aflow:<AFLOW label>`` (plus the mineral name
  where AFLOW gives one).

They are read directly as JSON, which avoids importing
``pymatgen.analysis.prototypes`` (it loads extra tables at import).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Iterator

from pymatgen.core import Structure


def _search_roots() -> list[Path]:
    spec = importlib.util.find_spec("pymatgen")
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def _find(relative: str) -> list[Path]:
    return [root / relative for root in _search_roots() if (root / relative).exists()]


def _util_structures() -> Iterator[tuple[str, Structure]]:
    for folder in _find("util/structures"):
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                structure = Structure.from_dict(data)
            except Exception:
                continue  # a future pymatgen may add non-Structure files here
            yield f"util:{path.stem}", structure


def _aflow_prototypes() -> Iterator[tuple[str, Structure]]:
    for path in _find("analysis/prototypes/aflow_prototypes.json.gz"):
        with gzip.open(path, "rt") as handle:
            entries = json.load(handle)
        for entry in entries:
            tags = entry.get("tags", {})
            label = tags.get("aflow", "unknown")
            mineral = tags.get("mineral")
            name = f"aflow:{label}" + (f" ({mineral})" if mineral else "")
            try:
                structure = Structure.from_dict(entry["snl"])
            except Exception:
                continue
            yield name, structure


def shipped_structures(include_prototypes: bool = True) -> Iterator[tuple[str, Structure]]:
    """``(name, Structure)`` for every structure bundled with pymatgen, in a fixed order."""
    yield from _util_structures()
    if include_prototypes:
        yield from _aflow_prototypes()
