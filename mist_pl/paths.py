"""Where mist-pl keeps generated artifacts (tokenizers, converted models).

Everything here is derived from shipped inputs and rebuilt on demand, so deleting the
cache is always safe. Override the location with ``MIST_PL_CACHE``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MIST_PL_CACHE"


def cache_dir(*parts: str) -> Path:
    """``<cache>/<parts...>``, created if missing; the cache is ``$MIST_PL_CACHE`` if set,
    else ``~/.cache/mist-pl``. Errors name the variable: an empty value would otherwise
    mean the working directory, and a folder that cannot be made an OSError about a
    path the user never typed."""
    value = os.environ.get(CACHE_ENV)
    if value is not None and not value.strip():
        raise ValueError(f"{CACHE_ENV}={value!r} is empty: set it to a folder for mist-pl's cache, "
                         "or unset it to use ~/.cache/mist-pl")
    root = Path(value).expanduser() if value is not None else Path.home() / ".cache" / "mist-pl"
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        setting = f"{CACHE_ENV}={value!r}" if value is not None else f"the default cache ({CACHE_ENV} unset)"
        raise OSError(error.errno, f"cannot create the cache folder {path} from {setting}: {error.strerror}; "
                                   f"set {CACHE_ENV} to a writable folder") from error
    return path
