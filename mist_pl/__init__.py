"""mist-pl: mid-stage scientific training (MiST) of chemistry language models on Lightning."""

__version__ = "0.1.0"
