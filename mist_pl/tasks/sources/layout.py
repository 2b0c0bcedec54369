"""Where the build finds its inputs: the fetched raw files and the mist-demo fixtures.

Raw files are where ``python -m mist_pl.tasks.sources.fetch --out data/raw`` puts them (see
:mod:`.fetch`). The mist-demo fixtures ship inside the package
(:data:`mist_pl.shipped.MIST_DEMO`); ``--demo-dir`` points the build at another copy of
that layout. A required file that is missing fails with its path and the command that
makes it.
"""

from __future__ import annotations

from pathlib import Path

from mist_pl.shipped import MIST_DEMO

DEFAULT_RAW_DIR = Path("data/raw")
SAMPLES = Path(__file__).with_name("samples")
CLASS_SAMPLE = SAMPLES / "reaction_classes.csv"  # rxn_naming's shipped class sample (.class_sample)

SCHNEIDER = "drfp/schneider50k.tsv"
USPTO_YIELDS = ("drfp/uspto_yields_above.csv", "drfp/uspto_yields_below.csv")
RXN_INSIGHT = "rxn_insight/1000rxns.gzip"
ORD_REACTIONS = "orderly/reactions"
ORD_DATASETS = "orderly/datasets"

FETCH_HINT = "run: python -m mist_pl.tasks.sources.fetch --out data/raw"


class MissingInput(FileNotFoundError):
    """A file or folder the build needs is not there; the message names it."""


def require(path: Path, hint: str = FETCH_HINT) -> Path:
    if not path.exists():
        raise MissingInput(f"missing input {path} ({hint})")
    return path


def raw_file(raw_dir: Path, relative: str) -> Path:
    return require(Path(raw_dir) / relative)


def demo_root(explicit: Path | None = None) -> Path:
    """The mist-demo folder: ``explicit`` (``--demo-dir``) if given, else the copy shipped
    in the package. Fails naming the folder when it is not there."""
    if explicit is not None:
        return require(Path(explicit), "the --demo-dir folder")
    return require(MIST_DEMO, "the mist-demo fixtures shipped in the package; reinstall mist-pl")
