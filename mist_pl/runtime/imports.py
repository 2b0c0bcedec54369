"""Import an object named by a dotted path, the only way a config names code to run.

Configs name reward functions (``rewards[].fn``) and example builders
(``data.examples_fn``) by import path. Importing runs the module's code, so a config is
a program; this module accepts dotted module paths of Python identifiers only, and
checks that before anything is imported, so a file path or a typo fails with a message
naming the setting and the value instead of importing something unexpected.

Part of the runtime core (:mod:`mist_pl.runtime`): it imports nothing first-party.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def import_object(path: str, what: str = "reward fn") -> Any:
    """``a.b.c`` or ``a.b:c`` -> the object ``c`` of module ``a.b``; ``what`` names the
    setting in errors.

    Importing runs the module's code and the object is then called, so a config is a
    program. Only dotted module paths of Python identifiers are accepted, never a file path
    (``rewards/mine.py:fn``, ``mine.py:fn``) or a path with empty parts, and that is checked
    before anything is imported."""
    problem = None
    if not isinstance(path, str):
        problem = f"a {type(path).__name__}, not a string"
    else:
        module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
        parts = [*module_name.split("."), attr]
        if not sep or not module_name or not attr:
            problem = "it needs a module and a name in it"
        elif "py" in parts[-2:] or "/" in path or "\\" in path:
            problem = "that is a file; put its folder on PYTHONPATH and name its module instead"
        elif not all(part.isidentifier() for part in parts):
            bad = next(part for part in parts if not part.isidentifier())
            problem = f"{bad!r} is not a Python identifier" if bad else "it has an empty part"
    if problem:
        raise ValueError(f"{what}={path!r} is not an import path like 'package.module.function' "
                         f"or 'package.module:function' ({problem})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"{what}={path!r}: cannot import module {module_name!r} ({error})") from error
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{what}={path!r}: module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TypeError(f"{what}={path!r} is not callable")
    return obj


def import_path_of(obj: Any) -> str:
    """The import path :func:`import_object` resolves back to ``obj``: ``module.name``
    where ``name`` is the module-level attribute holding ``obj`` (not its ``__qualname__``,
    which a wrapped reward shares with the function it wraps). Raises ``ValueError`` for an
    object no module binds by name (a lambda, a closure), which a config cannot name."""
    module_name = getattr(obj, "__module__", None)
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    for name, value in vars(module or object()).items():
        if value is obj and name.isidentifier():
            return f"{module_name}.{name}"
    raise ValueError(f"{obj!r} is not bound by name in its module {module_name!r}; it has no import path")
