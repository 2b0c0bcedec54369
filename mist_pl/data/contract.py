"""The contract between a data module and the model it feeds.

Both directions are explicit, so neither side guesses the other's attribute names:

* data -> model: a data module that is a :class:`ModelFedData` describes itself in
  :class:`DataFacts` (what the model's start-up checks, per-source metrics and batch-size
  checks read: :mod:`mist_pl.modules.checks`) and offers the scalars it wants logged
  (:meth:`ModelFedData.data_metrics`); the model writes them to the loggers. A data module
  writes to no logger itself.
* model -> data: the model being trained offers its tokenizer as a
  :class:`TokenizerOwner` (every mist-pl LightningModule is one), and
  :func:`model_tokenizer` is the one place a data module reads it.
* both: :func:`data_parallel_place` is the one rule for which share of the data a rank
  reads (its data-parallel replica, not its process rank).

Why the data module asks for the tokenizer rather than the model handing it over:
Lightning 2.6 runs the data module's ``prepare_data`` and ``setup`` (which tokenize, and
write shards) before any hook of the LightningModule (``Trainer._run``: ``prepare_data``,
then ``setup`` of the data module, the callbacks and the module, then
``configure_model``). A tokenizer handed over in the module's ``setup`` or
``configure_model`` would arrive after the data were tokenized with another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable


@dataclass(frozen=True)
class DataFacts:
    """What a data module tells the model it feeds, once its ``setup`` has run.

    Attributes:
        batch_size: rows (packed rows, examples or prompts) per batch on each rank
            (``data.batch_size``).
        seq_len: tokens per row when rows have one fixed length (``data.seq_len``; checked
            against the model's context); None when they do not.
        max_prompt_tokens: the longest prompt a row may hold (``data.max_prompt_tokens``,
            RL prompts; a rollout adds its completion to it); None when not a prompt set.
        train_tokens: tokens the training data hold, when counted; with ``seq_len`` it
            says whether the data fill one global batch.
        train_examples: training examples (prompts), when counted and tokens are not.
        tokenizer: the tokenizer the data were tokenized with; None before ``setup``.
        source_names: names of the sources; ``batch["source_ids"]`` indexes them (empty
            when batches carry no ``source_ids``).
    """

    batch_size: int
    seq_len: Optional[int] = None
    max_prompt_tokens: Optional[int] = None
    train_tokens: Optional[int] = None
    train_examples: Optional[int] = None
    tokenizer: Any = None
    source_names: tuple[str, ...] = ()


@runtime_checkable
class ModelFedData(Protocol):
    """A data module the mist-pl modules understand (``MixtureDataModule``, ``PromptDataModule``)."""

    def data_facts(self) -> DataFacts:
        """What the data are (see :class:`DataFacts`); valid after ``setup``."""
        ...

    def data_metrics(self) -> dict[str, float]:
        """Scalars for the loggers after the training batch just counted; empty when none
        are due (the data module keeps its own cadence, e.g. ``log_mixture_every_n_batches``)."""
        ...


@runtime_checkable
class TokenizerOwner(Protocol):
    """A model that says which tokenizer its data must use: its ``tokenizer`` (None: no say)."""

    tokenizer: Any


def data_facts(datamodule: Any) -> Optional[DataFacts]:
    """The facts of ``datamodule`` when it follows the contract; None for any other data
    module (or none): the model then checks nothing against the data."""
    return datamodule.data_facts() if isinstance(datamodule, ModelFedData) else None


def model_tokenizer(trainer: Any) -> Any:
    """The tokenizer of the model ``trainer`` trains, when there is one and it is a
    :class:`TokenizerOwner`; None without a trainer, a model or a tokenizer."""
    module = trainer.lightning_module if trainer is not None else None
    return module.tokenizer if isinstance(module, TokenizerOwner) else None


def data_parallel_place(trainer: Any) -> tuple[int, int]:
    """``(rank, size)`` among data-parallel replicas: which share of the data ``trainer``'s
    process reads, of how many. Ranks of one tensor-parallel group (ModelParallelStrategy)
    share a replica and must read the same samples, so this is the strategy's sampler
    placement, not the process rank and world size. ``(0, 1)`` without a trainer or a
    distributed strategy."""
    strategy = getattr(trainer, "strategy", None)
    kwargs = getattr(strategy, "distributed_sampler_kwargs", None) or {}
    if kwargs.get("num_replicas"):
        return int(kwargs["rank"]), int(kwargs["num_replicas"])
    return 0, 1
