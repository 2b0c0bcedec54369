"""Where the build finds its inputs: the fetched raw files and the mist-demo fixtures.

Raw files are where ``python -m mist_pl.tasks.fetch --out data/raw`` puts them (see
:mod:`.pins`). The demo fixtures are found through ``$MIST_DEMO_DATA`` or at
``../shared/data/mist-demo`` next to the repository. A required file that is missing
fails with its path and the command that makes it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEFAULT_RAW_DIR = Path("data/raw")
SAMPLES = Path(__file__).with_name("samples")

SCHNEIDER = "drfp/schneider50k.tsv"
USPTO_YIELDS = ("drfp/uspto_yields_above.csv", "drfp/uspto_yields_below.csv")
RXN_INSIGHT = "rxn_insight/1000rxns.gzip"
ORD_REACTIONS = "orderly/reactions"
ORD_DATASETS = "orderly/datasets"

FETCH_HINT = "run: python -m mist_pl.tasks.fetch --out data/raw"


class MissingInput(FileNotFoundError):
    """A file or folder the build needs is not there; the message names it."""


def require(path: Path, hint: str = FETCH_HINT) -> Path:
    if not path.exists():
        raise MissingInput(f"missing input {path} ({hint})")
    return path


def raw_file(raw_dir: Path, relative: str) -> Path:
    return require(Path(raw_dir) / relative)


def demo_root() -> Path | None:
    """The mist-demo folder: ``$MIST_DEMO_DATA``, else ``../shared/data/mist-demo`` next
    to the repository; None when neither exists."""
    for candidate in (os.environ.get("MIST_DEMO_DATA"), REPO.parent / "shared" / "data" / "mist-demo"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def require_demo_root(explicit: Path | None = None) -> Path:
    root = explicit or demo_root()
    if root is None:
        raise MissingInput("mist-demo fixtures not found: pass --demo-dir, set MIST_DEMO_DATA, or provide ../shared/data/mist-demo")
    return require(Path(root), "the mist-demo fixture folder")
