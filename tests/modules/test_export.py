"""``python -m mist_pl.export``: a trained checkpoint becomes a Hugging Face folder that
reloads with ``AutoModelForCausalLM.from_pretrained`` and computes the same logits."""

import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXT = "[START_SMILES]CC(=O)Oc1ccccc1C(=O)O[END_SMILES] is aspirin"


def test_export_cli_round_trip_gives_identical_logits(trained_ckpt, tmp_path):
    module, ckpt = trained_ckpt
    out = tmp_path / "hf"
    result = subprocess.run([sys.executable, "-m", "mist_pl.export", "--ckpt", str(ckpt), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer(TEXT)["input_ids"] == module.tokenizer(TEXT)["input_ids"]  # chemistry tags survive
    ids = torch.tensor([module.tokenizer(TEXT)["input_ids"]])
    with torch.no_grad():
        expected = module.model(input_ids=ids).logits
        assert torch.equal(model(input_ids=ids).logits, expected)


def test_exported_folder_is_a_valid_next_stage_model(trained_ckpt, tmp_path):
    """The folder is what the next stage's lm.name_or_path points at."""
    from mist_pl.export import export
    from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer

    module, ckpt = trained_ckpt
    out = export(ckpt, tmp_path / "hf")
    cfg = ModelConfig(name_or_path=str(out))
    model = build_model(cfg, build_tokenizer(cfg))
    own = module.model.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in model.state_dict().items())
