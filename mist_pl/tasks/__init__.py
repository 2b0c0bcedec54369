"""Chemistry tasks: prompts, example builders, rewards and metrics, one file per task.

Look tasks up with :func:`get_task` or browse :data:`TASKS` (both load the built-in
tasks on first use). Rewards follow the protocol in :mod:`mist_pl.runtime.protocol`;
call them on model output through :func:`mist_pl.runtime.safety.safe_reward_call`.
Nothing here imports torch.

The names below are resolved lazily so that importing a light submodule does not pull
in RDKit and pymatgen through this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Parsed": "mist_pl.tasks.answer",
    "format_reward": "mist_pl.tasks.answer",
    "parse_completion": "mist_pl.tasks.answer",
    "Task": "mist_pl.tasks.registry",
    "WeightedReward": "mist_pl.tasks.registry",
    "get_task": "mist_pl.tasks.registry",
    "register_task": "mist_pl.tasks.registry",
    "load_builtin_tasks": "mist_pl.tasks.registry",
}

__all__ = ["TASKS", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name == "TASKS":
        registry = importlib.import_module("mist_pl.tasks.registry")
        registry.load_builtin_tasks()
        return registry.TASKS
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mist_pl.tasks' has no attribute {name!r}")
