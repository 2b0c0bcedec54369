"""Bad input fails at start-up, before any training step, with a message naming the fix."""

import copy
import re

import lightning as L
import pytest
import torch
import yaml
from cpt_helpers import SMALL_MIX, quiet_trainer
from transformers import AutoModelForCausalLM

from mist_pl.data.datamodule import MixtureDataModule
from mist_pl.data.errors import DataConfigError
from mist_pl.export import export
from mist_pl.models.factory import ModelConfig, build_tokenizer
from mist_pl.models.tiny import tiny_config
from mist_pl.models.weights import ArchitectureMismatchError
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.modules.checks import DataModelMismatchError


def text_mix(tmp_path, text: str) -> str:
    (tmp_path / "docs.txt").write_text(text)
    mix = {"name": "t", "seed": 1, "tokenizer": "mist-chem",
           "sources": [{"name": "docs", "format": "txt", "path": str(tmp_path / "docs.txt"), "weight": 1.0}]}
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(mix))
    return str(path)


class NoTraining(L.Callback):
    def on_train_batch_start(self, *args) -> None:
        raise AssertionError("a training step ran despite bad input")


def fit(tmp_path, data, **module_kwargs):
    trainer = quiet_trainer(tmp_path, max_steps=2, callbacks=[NoTraining()])
    trainer.fit(CausalLMModule(**module_kwargs), datamodule=data)


@pytest.fixture(scope="module")
def other_arch_folder(tmp_path_factory):
    """A local model folder of the same family but another size (2 layers, hidden 128)."""
    folder = tmp_path_factory.mktemp("small_qwen2")
    tokenizer = build_tokenizer(ModelConfig())
    config = tiny_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, hidden_size=128,
                         intermediate_size=256, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_empty_dataset_names_the_source(tmp_path):
    with pytest.raises(DataConfigError, match=r"sources\[0\] \('docs'\).*no valid records"):
        fit(tmp_path, MixtureDataModule(text_mix(tmp_path, "\n\n\n"), seq_len=64, batch_size=2))


def test_too_short_dataset_is_refused(tmp_path):
    data = MixtureDataModule(text_mix(tmp_path, "CCO\nethanol\n"), seq_len=64, batch_size=4, val_fraction=0.0)
    with pytest.raises(DataModelMismatchError) as info:
        fit(tmp_path, data)
    message = str(info.value)
    assert "fewer than one global batch" in message and "data.seq_len=64 x data.batch_size=4" in message


def test_seq_len_above_model_limit_names_both(tmp_path, mix_file):
    data = MixtureDataModule(str(mix_file), seq_len=4096, batch_size=1)
    with pytest.raises(DataModelMismatchError) as info:
        fit(tmp_path, data)
    message = str(info.value)
    assert "data.seq_len=4096" in message and "max_position_embeddings=2048" in message
    assert "lm.name_or_path='tiny'" in message


def test_init_from_checkpoint_of_another_architecture(trained_ckpt, other_arch_folder):
    _, ckpt = trained_ckpt
    module = CausalLMModule(lm=ModelConfig(name_or_path=str(other_arch_folder)), init_from_ckpt=str(ckpt))
    with pytest.raises(ArchitectureMismatchError) as info:
        module.configure_model()
    message = str(info.value)
    assert str(ckpt) in message and "layers=2, hidden=128" in message
    assert re.search(r"model\.embed_tokens\.weight: checkpoint \(\d+, 256\) vs model \(\d+, 128\)", message)
    assert "24 unexpected tensor(s)" in message  # the checkpoint has 2 layers (x 12 tensors) more


def test_export_of_a_checkpoint_whose_model_changed(trained_ckpt, other_arch_folder, tmp_path):
    """The checkpoint names a model folder that now holds another architecture."""
    _, ckpt = trained_ckpt
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint = copy.deepcopy(checkpoint)
    checkpoint["hyper_parameters"]["lm"]["name_or_path"] = str(other_arch_folder)
    torch.save(checkpoint, tmp_path / "moved.ckpt")
    with pytest.raises(ArchitectureMismatchError, match="shape mismatch"):
        export(tmp_path / "moved.ckpt", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_missing_init_checkpoint_fails_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError, match="init_from_ckpt="):
        CausalLMModule(init_from_ckpt=str(tmp_path / "nope.ckpt"))


def test_small_mix_is_large_enough(mix_file):
    # Guard for the fixtures above: the shared small mixture passes the size check.
    assert SMALL_MIX["sources"][0]["max_records"] >= 100
