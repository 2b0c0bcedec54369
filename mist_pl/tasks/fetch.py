"""``python -m mist_pl.tasks.fetch``: download and extract the pinned data archives.

See :mod:`mist_pl.tasks.data.fetch`.
"""

from __future__ import annotations

import sys

from mist_pl.tasks.data.fetch import main

if __name__ == "__main__":
    sys.exit(main())
