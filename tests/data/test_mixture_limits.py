"""Weights and token budgets beyond what a float or the schedule holds fail naming the
field and what fits. Weights ``[1e308, 1e308]`` overflowed their sum and ended in numpy's
"repeats may not contain negative values"; a budget of 1e12 tokens asked numpy for
hundreds of GiB for one epoch's schedule, and 1e30 overflowed int64 and said "a mixture
epoch needs at least one row"."""

from __future__ import annotations

import pytest

from mist_pl.data.config import load_mixture
from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.data.mixture import MAX_EPOCH_ROWS

SEQ_LEN = 48


def setup(mixture) -> MixtureDataModule:
    dm = MixtureDataModule(mixture, seq_len=SEQ_LEN, batch_size=4, val_fraction=0.1)
    dm.setup("fit")
    return dm


def test_weights_whose_sum_overflows_are_refused_when_the_mixture_is_loaded(text_mixture):
    for source, weight in zip(text_mixture["sources"], (1e308, 1e308, 1.0)):
        source["weight"] = weight
    with pytest.raises(DataConfigError, match=r"<inline mixture>: sources\[\]\.weight: the weights sum to more than") as error:
        load_mixture(text_mixture)
    assert "relative shares" in str(error.value)


@pytest.mark.parametrize("budget", [10**12, 10**30])
def test_a_budget_the_schedule_cannot_hold_says_what_fits(text_mixture, budget):
    for source in text_mixture["sources"]:
        del source["weight"]
        source["tokens"] = budget
    with pytest.raises(DataConfigError) as error:
        setup(text_mixture)
    message = str(error.value)
    assert message.startswith("<inline mixture>: sources[].tokens: budgets of ")
    assert f"at most {MAX_EPOCH_ROWS:,} rows" in message
    fits = int(message.split("at most ~")[1].split(" tokens")[0].replace(",", ""))
    assert 0.9 * MAX_EPOCH_ROWS * 20 < fits < MAX_EPOCH_ROWS * SEQ_LEN  # about MAX rows of ~20-48 tokens
    assert "the sources hold " in message and "needs at least one row" not in message


def test_an_epoch_length_the_schedule_cannot_hold_says_what_fits(text_mixture):
    text_mixture["tokens_per_epoch"] = 10**12
    with pytest.raises(DataConfigError, match=r"<inline mixture>: tokens_per_epoch: 1,000,000,000,000 tokens per mixture epoch need"):
        setup(text_mixture)


def test_a_budget_within_the_limit_is_served(text_mixture):
    text_mixture["tokens_per_epoch"] = 20_000
    assert setup(text_mixture)._mixture.schedule.epoch_rows < MAX_EPOCH_ROWS
