"""Which tokenizer the mixture data module uses: data.tokenizer if set, else the model's,
else the mixture file's. A mixture naming another vocabulary than the model's must not
silently feed the model foreign token ids (found training SmolLM2 on mist-chem ids: the
loss sat near ln(vocab) and the model got worse)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import lightning as L
import pytest

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.tokenization import resolve_tokenizer, tokenizer_fingerprint


@pytest.fixture
def other_tokenizer(tokenizer_dir):
    """The fixture tokenizer plus one token: another vocabulary (another fingerprint)."""
    tok = resolve_tokenizer(tokenizer_dir)
    tok.add_tokens(["<only_in_the_model>"])
    return tok


def attached(dm: MixtureDataModule, module_tokenizer) -> MixtureDataModule:
    dm.trainer = SimpleNamespace(lightning_module=SimpleNamespace(tokenizer=module_tokenizer))
    return dm


def test_the_model_tokenizer_wins_over_the_mixture_file(text_mixture, other_tokenizer, caplog):
    dm = attached(MixtureDataModule(text_mixture, seq_len=48, batch_size=2), other_tokenizer)
    with caplog.at_level(logging.WARNING, logger="mist_pl.data.datamodule"):
        dm.setup("fit")
    assert dm.tokenizer is other_tokenizer
    assert "is not the model's" in caplog.text  # the mixture file named another vocabulary


def test_without_a_model_the_mixture_file_names_the_tokenizer(text_mixture, tokenizer_dir):
    dm = MixtureDataModule(text_mixture, seq_len=48, batch_size=2)
    dm.setup("fit")
    assert tokenizer_fingerprint(dm.tokenizer) == tokenizer_fingerprint(resolve_tokenizer(tokenizer_dir))


def test_an_explicit_data_tokenizer_is_kept(text_mixture, tokenizer_dir, other_tokenizer):
    dm = attached(MixtureDataModule(text_mixture, tokenizer=tokenizer_dir, seq_len=48, batch_size=2), other_tokenizer)
    dm.setup("fit")
    assert len(dm.tokenizer) == len(other_tokenizer) - 1


def test_training_refuses_data_tokenized_for_another_model(text_mixture, tokenizer_dir, tmp_path):
    from mist_pl.modules.causal_lm import CausalLMModule
    from mist_pl.modules.checks import DataModelMismatchError

    # The tiny model uses mist-chem; the data are forced to the 320-token fixture vocabulary.
    dm = MixtureDataModule(text_mixture, tokenizer=tokenizer_dir, seq_len=48, batch_size=2)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with pytest.raises(DataModelMismatchError, match=r"data.tokenizer .*lm.name_or_path='tiny'"):
        trainer.fit(CausalLMModule(), datamodule=dm)


def test_the_data_module_states_its_facts(text_mixture, tokenizer_dir):
    """What the model's start-up checks read (mist_pl.data.contract), not attributes."""
    from mist_pl.data.contract import ModelFedData, data_facts

    dm = MixtureDataModule(text_mixture, tokenizer=tokenizer_dir, seq_len=48, batch_size=2)
    assert isinstance(dm, ModelFedData)
    assert data_facts(dm).tokenizer is None and data_facts(dm).train_tokens is None  # before setup
    dm.setup("fit")
    facts = data_facts(dm)
    assert (facts.batch_size, facts.seq_len, facts.max_prompt_tokens) == (2, 48, None)
    assert facts.tokenizer is dm.tokenizer and facts.source_names == tuple(dm.source_names)
    assert facts.train_tokens == sum(s.tokens for s in dm.source_stats.values()) > 0
    assert dm.data_metrics() == {}  # no training batch counted yet
    assert data_facts(object()) is None  # a data module outside the contract is not checked
