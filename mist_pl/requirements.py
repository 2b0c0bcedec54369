"""The oldest torch and transformers mist-pl runs with, checked when the package is imported.

Below these versions the code does not fail at once but deep inside a run: a missing
``fully_shard`` import on the first FSDP2 step, a ``DynamicCache`` that rejects
``config=`` on the first GRPO round, packed documents that silently attend to each other.
:func:`check_versions` (called by ``mist_pl/__init__``) turns that into one ImportError at
``import mist_pl`` naming the package, the installed and the needed version, and what
needs it. ``pyproject.toml`` states the same minimums (a test compares them).

Versions are read from the installed distributions' metadata, never by importing them:
``import mist_pl.chem`` must stay free of torch.
"""

from __future__ import annotations

import re
from importlib import metadata

# distribution -> (oldest version, what needs it)
MINIMUM_VERSIONS: dict[str, tuple[str, str]] = {
    "torch": ("2.7", "FSDP2 as torch.distributed.fsdp.fully_shard and FSDPModule.set_reshard_after_forward "
                     "(GRPO sampling under FSDP2)"),
    "transformers": ("5.0", "DynamicCache(config=...), from_pretrained(dtype=...), block-diagonal attention "
                            "for packed documents from position_ids, activation_checkpointing_enable"),
}


class RequirementError(ImportError):
    """An installed dependency is older than mist-pl needs; the message says which and why."""


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading release numbers of a version string: ``"2.13.0+cpu"`` -> (2, 13, 0),
    ``"5.0.0rc1"`` -> (5, 0, 0) (a pre-release of the minimum counts as the minimum)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
    if match is None:
        raise ValueError(f"version {text!r} does not start with a release number")
    return tuple(int(part) for part in match.group(1).split("."))


def at_least(installed: str, minimum: str) -> bool:
    have, need = version_tuple(installed), version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def check_versions(installed: dict[str, str | None] | None = None) -> None:
    """Raise :class:`RequirementError` for every dependency below its minimum.

    ``installed`` maps distribution -> version (tests); by default the installed
    distributions' metadata. A distribution that is not installed is not reported here:
    importing it fails on its own, naming it."""
    problems, upgrades = [], []
    for name, (minimum, why) in MINIMUM_VERSIONS.items():
        version = installed.get(name) if installed is not None else _installed(name)
        if version is not None and not at_least(version, minimum):
            problems.append(f"{name}>={minimum} is needed ({why}); installed: {name} {version}")
            upgrades.append(f"'{name}>={minimum}'")
    if problems:
        raise RequirementError("mist-pl cannot run with these versions: " + "; ".join(problems)
                               + f". Upgrade: pip install {' '.join(upgrades)}")


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
