"""mist-pl: mid-stage scientific training (MiST) of chemistry language models on Lightning."""

from mist_pl.requirements import check_versions

__version__ = "0.1.0"

check_versions()  # torch / transformers older than the code needs: one clear ImportError here
