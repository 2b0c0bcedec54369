"""Data layer: readers, chemistry-aware transforms, mixing, packing, shards, the CPT/SFT data module.

Read in this order: ``config`` (the mixture file) -> ``readers`` ->
``transforms`` (record -> document or chat pair) -> ``documents`` (+ ``tokenization``) -> ``prepare`` /
``shards`` (tokenized Arrow shards) -> ``packing`` -> ``mixture`` (sample i = f(seed, i))
-> ``datasets`` -> ``datamodule``. Built-in offline corpora live in ``corpora``.

Names are imported lazily so that light users (``prepare`` workers, chemistry code)
do not pay for importing Lightning.
"""

from importlib import import_module

_EXPORTS = {
    "DataConfigError": "mist_pl.data.errors",
    "MixtureConfig": "mist_pl.data.config",
    "SourceSpec": "mist_pl.data.config",
    "load_mixture": "mist_pl.data.config",
    "MixtureDataModule": "mist_pl.data.datamodule",
    "pack_documents": "mist_pl.data.packing",
}

__all__ = sorted(_EXPORTS)


# Modules renamed before 0.1.0 (issue 24), with no alias left behind: a config that still
# names the old path (``class_path: mist_pl.data.prompts.PromptDataModule``) is refused
# with the new one in the message.
RENAMED = {"prompts": "rl_prompts", "chat": "tokenization", "sources": "readers", "task_sft": "task_examples"}


def __getattr__(name: str):
    if name in RENAMED:
        raise AttributeError(f"module 'mist_pl.data' has no attribute {name!r}: mist_pl.data.{name} is now "
                             f"mist_pl.data.{RENAMED[name]} (e.g. class_path: mist_pl.data.rl_prompts.PromptDataModule)")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mist_pl.data' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
