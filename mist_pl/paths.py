"""Where mist-pl keeps generated artifacts (tokenizers, converted models).

Everything here is derived from shipped inputs and rebuilt on demand, so deleting the
cache is always safe. Override the location with ``MIST_PL_CACHE``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("MIST_PL_CACHE", Path.home() / ".cache" / "mist-pl"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
