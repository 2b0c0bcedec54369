import pytest

from mist_pl.data.tokenization import IGNORE_INDEX, encode_chat
from mist_pl.models.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("mist-chem")


def test_only_completion_tokens_carry_labels(tok):
    prompt = "Name the reaction class of CC(=O)Cl.NCC>>CC(=O)NCC"
    completion = "<think>An amine attacks an acyl chloride.</think><answer>Acylation</answer>"
    enc = encode_chat(tok, prompt, completion, system="You are a chemist.")
    prompt_ids = tok.apply_chat_template(
        [{"role": "system", "content": "You are a chemist."}, {"role": "user", "content": prompt}],
        tokenize=True, add_generation_prompt=True, return_dict=True,
    )["input_ids"]
    n = len(prompt_ids)
    assert enc.input_ids[:n] == list(prompt_ids)
    # Token by token: every prompt position is ignored, every later one is its own target.
    for i, (token, label) in enumerate(zip(enc.input_ids, enc.labels)):
        assert label == (IGNORE_INDEX if i < n else token), i
    assert tok.decode(enc.input_ids[n:]) == completion + "<|im_end|>\n"


def test_long_completion_is_truncated_and_long_prompt_dropped(tok):
    enc = encode_chat(tok, "short question", "word " * 200, max_length=40)
    assert enc.truncated and len(enc.input_ids) == len(enc.labels) == 40
    assert any(label != IGNORE_INDEX for label in enc.labels)
    assert encode_chat(tok, "long question " * 100, "answer", max_length=40) is None
