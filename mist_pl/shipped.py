"""Files that ship inside the package: the default configs, the mist-demo fixtures and
the general-text asset.

The package never reads the checkout it was installed from, nor any folder beside it:
everything it needs at run time is package data, found from this module's own location,
so ``pip install .`` and a run from any working directory see the same files.

Configs live in ``mist_pl/conf`` (the repository's ``conf/`` is a link to it). A config
path is resolved by :func:`resolve_config`: a file that exists is used as given;
otherwise a relative path names a shipped config, written as in the repository
(``conf/data/chem_mix_tiny.yaml``) or without the leading ``conf/``
(``data/chem_mix_tiny.yaml``). That keeps ``mixture: conf/data/chem_mix_tiny.yaml`` in a
shipped config working from any directory, while a file of the same name in the working
directory still wins.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
MIST_DEMO = ASSETS / "mist_demo"
CONF = PACKAGE / "conf"
CONF_PREFIX = "conf/"  # how the repository's configs name each other


class MissingPackageFile(FileNotFoundError):
    """A file the package should ship is not there (an incomplete install); names it."""


def asset(*parts: str) -> Path:
    """A file of ``mist_pl/assets``; raises :class:`MissingPackageFile` naming it."""
    return _shipped(ASSETS.joinpath(*parts))


def mist_demo_file(relative: str) -> Path:
    """A mist-demo fixture by its path in the original layout (``reactions/rxn_truefalse_sample.csv``)."""
    return _shipped(MIST_DEMO / relative)


def config_file(relative: str) -> Path:
    """A shipped config (``tiny/cpt.yaml`` or ``conf/tiny/cpt.yaml``); raises
    :class:`MissingPackageFile` naming it."""
    found = shipped_config(relative)
    if found is None:
        raise MissingPackageFile(f"no shipped config {relative!r} in {CONF} (shipped: {', '.join(shipped_configs())})")
    return found


def shipped_config(relative: str) -> Path | None:
    """The shipped config ``relative`` names (``conf/tiny/cpt.yaml`` or ``tiny/cpt.yaml``),
    or None. Only paths inside ``mist_pl/conf`` are answered."""
    text = str(relative).replace(os.sep, "/")
    if Path(text).is_absolute():
        return None
    text = text.removeprefix("./").removeprefix(CONF_PREFIX)
    candidate = (CONF / text).resolve()
    if CONF.resolve() not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def resolve_config(value: str | os.PathLike, what: str = "config") -> Path:
    """``value`` if it is a file, else the shipped config it names (see the module
    docstring); raises FileNotFoundError naming ``what``, the value and where it looked."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    shipped = shipped_config(str(value))
    if shipped is not None:
        log.info("%s=%s: not in %s; using the config shipped with mist-pl, %s", what, value, Path.cwd(), shipped)
        return shipped
    raise FileNotFoundError(
        f"{what}={str(value)!r}: no such file (relative to {Path.cwd()}), and no shipped config of that name in {CONF}"
        f" (shipped: {', '.join(shipped_configs()) or 'none'})"
    )


def shipped_configs() -> list[str]:
    """Every shipped config as ``conf/...`` (the names :func:`resolve_config` accepts)."""
    if not CONF.is_dir():
        return []
    return sorted(CONF_PREFIX + p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml"))


def _shipped(path: Path) -> Path:
    if not path.is_file():
        raise MissingPackageFile(f"{path} is missing from the installed package (reinstall mist-pl)")
    return path
