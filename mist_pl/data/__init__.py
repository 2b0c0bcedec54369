"""Data layer: readers, chemistry-aware transforms, mixing, packing, shards, the CPT/SFT data module.

Read in this order: ``config`` (the mixture file) -> ``sources`` (readers) ->
``transforms`` (record -> document or chat pair) -> ``documents`` (+ tokenization) -> ``prepare`` /
``shards`` (tokenized Arrow shards) -> ``packing`` -> ``mixture`` (sample i = f(seed, i))
-> ``datasets`` -> ``datamodule``. Built-in offline corpora live in ``corpora``.

Names are imported lazily so that light users (``prepare`` workers, chemistry code)
do not pay for importing Lightning.
"""

from importlib import import_module

_EXPORTS = {
    "DataConfigError": "mist_pl.data.config",
    "MixtureConfig": "mist_pl.data.config",
    "SourceSpec": "mist_pl.data.config",
    "load_mixture": "mist_pl.data.config",
    "MixtureDataModule": "mist_pl.data.datamodule",
    "pack_documents": "mist_pl.data.packing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mist_pl.data' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
