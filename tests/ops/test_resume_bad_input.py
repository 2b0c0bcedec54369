"""Resuming from bad input through the CLI: a partial ``last.ckpt`` falls back to the
previous checkpoint with a warning; a checkpoint of another model fails naming what differs."""

from __future__ import annotations

import warnings

import pytest
import torch
from ops_helpers import REPO, cpt_config, run_cli

from mist_pl.checkpoints.resume import CheckpointMismatchError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, checkpoint folder) after 4 CPT steps of the tiny model, checkpoints at 2 and 4."""
    root = tmp_path_factory.mktemp("bad_input")
    config = cpt_config(root)
    torch.set_num_threads(1)
    run_cli(["fit", f"--config={config}", "--trainer.max_steps=4"])
    folder = root / "runs" / "cpt_tiny" / "run" / "checkpoints"
    assert {p.name for p in folder.iterdir()} >= {"last.ckpt", "epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt"}
    return config, folder


@pytest.mark.slow
def test_partial_last_checkpoint_falls_back_to_the_previous_one(trained):
    config, folder = trained
    last = folder / "last.ckpt"
    (folder / "epoch=0-step=4.ckpt").unlink()  # so the fallback is visibly older than last
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])  # killed while writing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = run_cli(["fit", f"--config={config}", "--trainer.max_steps=5", "--ckpt_path=last"])
    text = " ".join(str(w.message) for w in caught)
    assert "resuming from" in text and "epoch=0-step=2.ckpt" in text and "last.ckpt: truncated" in text
    assert cli.trainer.global_step == 5
    assert cli.datamodule.consumed_samples == 5 * 2  # 2 restored steps + 3 new ones, 2 rows each


@pytest.mark.slow
def test_checkpoint_of_another_model_size_names_the_parameter_shapes(trained, tmp_path):
    from transformers import AutoModelForCausalLM

    from mist_pl.models.tiny import tiny_config
    from mist_pl.models.tokenizer import load_tokenizer

    config, folder = trained
    tokenizer = load_tokenizer("mist-chem")
    other = tiny_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, hidden_size=128,
                        intermediate_size=256, num_hidden_layers=2)
    AutoModelForCausalLM.from_config(other).save_pretrained(tmp_path / "other")
    ckpt = next(folder.glob("epoch=0-step=2.ckpt"))
    with pytest.raises(CheckpointMismatchError) as error:
        run_cli(["fit", f"--config={config}", "--trainer.max_steps=5", f"--ckpt_path={ckpt}",
                 f"--model.lm.name_or_path={tmp_path / 'other'}", "--model.lm.tokenizer=mist-chem"])
    message = str(error.value)
    assert "model.model.embed_tokens.weight: checkpoint [" in message and ", 256], model [" in message
    assert ", 128]" in message
    assert "not in the checkpoint" not in message  # layers 2-3 are extra in the checkpoint, not missing
    assert "in the checkpoint not in the model" in message
    assert "lm.name_or_path: checkpoint 'tiny', this run" in message


def test_checkpoint_of_another_stage_is_refused_before_anything_is_built(trained, tmp_path, monkeypatch):
    _, folder = trained
    monkeypatch.chdir(tmp_path)
    ckpt = next(folder.glob("epoch=0-step=2.ckpt"))
    with pytest.raises(CheckpointMismatchError, match=r"written by mist_pl.modules.causal_lm.CausalLMModule; "
                                                      r"this run trains mist_pl.modules.grpo.GRPOModule.*init_from_ckpt"):
        run_cli(["fit", f"--config={REPO / 'conf/tiny/grpo_toy.yaml'}", f"--ckpt_path={ckpt}",
                 "--trainer.logger.init_args.save_dir=runs"])
