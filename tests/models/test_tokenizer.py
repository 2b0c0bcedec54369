import json

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from mist_pl.models.special_tokens import CHEM_SPECIAL_TOKENS
from mist_pl.models.tokenizer import build_chem_tokenizer, load_tokenizer
from mist_pl.models.tokenizer_corpus import iter_corpus


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("mist-chem")


SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "C[C@H](N)C(=O)O",
    "O=[N+]([O-])c1ccc(Cl)cc1",
    "[2H]C([2H])([2H])Br",
    "C1CC2(CC1)OCCO2",
    "CC(C)(C)OC(=O)N[C@@H](Cc1c[nH]c2ccccc12)C(=O)O",
]


def test_smiles_round_trip_exactly(tok):
    for smiles in SMILES:
        text = f"The product is [START_SMILES]{smiles}[END_SMILES]."
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text


def test_cif_round_trips_exactly(tok):
    structure = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    text = "[START_CIF]\n" + str(CifWriter(structure)) + "[END_CIF]"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_special_tokens_are_never_split(tok):
    vocab = tok.get_vocab()
    text = "".join(f"x{t}y" for t in CHEM_SPECIAL_TOKENS) + "".join(CHEM_SPECIAL_TOKENS)
    pieces = tok.convert_ids_to_tokens(tok(text)["input_ids"])
    for token in CHEM_SPECIAL_TOKENS:
        assert token in vocab
        assert pieces.count(token) == 2, token
    # No fragment of a tag appears as its own token.
    assert not any(p in {"[START", "_SMILES", "</", "answer"} for p in pieces)


def test_answer_tags_survive_skip_special_tokens(tok):
    text = "<think>ester</think><answer>Acylation</answer>"
    ids = tok(text)["input_ids"] + [tok.eos_token_id, tok.pad_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_chat_template_marks_assistant_tokens(tok):
    messages = [{"role": "user", "content": "Name CCO"}, {"role": "assistant", "content": "<answer>ethanol</answer>"}]
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask, ids = out["assistant_masks"], out["input_ids"]
    assistant_text = tok.decode([i for i, m in zip(ids, mask) if m])
    assert assistant_text == "<answer>ethanol</answer><|im_end|>"


def test_build_is_deterministic():
    texts = list(iter_corpus())[:3000]
    a = build_chem_tokenizer(texts, 1024)
    b = build_chem_tokenizer(texts, 1024)
    assert json.loads(a.backend_tokenizer.to_str()) == json.loads(b.backend_tokenizer.to_str())


def test_unknown_tokenizer_names_the_value():
    with pytest.raises(ValueError, match="no-such-tokenizer"):
        load_tokenizer("no-such-tokenizer")
