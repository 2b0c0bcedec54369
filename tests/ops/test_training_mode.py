"""A model loaded from a folder must train in train mode: Hugging Face's from_pretrained
returns eval mode, Lightning (>= 2.2) keeps submodules' modes, and in eval mode activation
checkpointing is silently skipped, so the recipes' memory plan (and their fit on 80 GB)
would not hold."""

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.rl.forward import activation_checkpointing


def test_model_from_a_folder_trains_with_activation_checkpointing(tmp_path):
    tiny = ModelConfig()
    build_model(tiny, build_tokenizer(tiny)).save_pretrained(tmp_path / "m")
    config = ModelConfig(name_or_path=str(tmp_path / "m"), tokenizer="mist-chem", gradient_checkpointing=True)
    model = build_model(config, build_tokenizer(config))
    assert model.training and all(m.training for m in model.modules())
    assert activation_checkpointing(model)
