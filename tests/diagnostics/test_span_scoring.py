"""The scoring core against a plain one-sequence-at-a-time computation."""

import pytest
import torch

from mist_pl.diagnostics.scoring import (
    EMPTY_TARGET,
    NON_FINITE,
    OK,
    TOO_LONG,
    ScoringItem,
    encode_item,
    score_items,
)
from mist_pl.models.factory import ModelConfig, build_model

ITEMS = [
    ScoringItem("Molecule: [START_SMILES]", "CCO"),
    ScoringItem("Molecule: [START_SMILES]", "CC1=CC(=O)C=CC1=O"),
    ScoringItem("The SMILES of 2-chloroethanol is [START_SMILES]", "OCCCl"),
    ScoringItem("", "c1ccccc1"),  # empty prefix: scored after the start token
    ScoringItem("Reactants: [START_SMILES]CCO.CC(=O)O[END_SMILES] Product: [START_SMILES]", "CCOC(C)=O"),
]


def reference_score(model, tokenizer, item):
    """Mean log-prob of the target tokens from one unpadded forward pass."""
    prefix, target = encode_item(tokenizer, item)
    ids = torch.tensor([prefix + target])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0].float().log_softmax(-1)
    positions = range(len(prefix), len(prefix) + len(target))
    return sum(logprobs[p - 1, ids[0, p]].item() for p in positions) / len(target)


@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_batched_scores_match_one_at_a_time(tiny_model, tokenizer, batch_size):
    scores = score_items(tiny_model, tokenizer, ITEMS, batch_size=batch_size)
    for item, score in zip(ITEMS, scores):
        assert score.status == OK
        assert score.n_target_tokens == len(encode_item(tokenizer, item)[1])
        assert score.mean_logprob == pytest.approx(reference_score(tiny_model, tokenizer, item), abs=1e-4)


def test_attention_backends_agree(tiny_model, tokenizer):
    eager = build_model(ModelConfig(attn_implementation="eager"), tokenizer)
    eager.load_state_dict(tiny_model.state_dict())
    a = score_items(tiny_model, tokenizer, ITEMS, batch_size=4)
    b = score_items(eager, tokenizer, ITEMS, batch_size=4)
    assert [x.mean_logprob for x in a] == pytest.approx([x.mean_logprob for x in b], abs=1e-4)


class NoLogitsToKeep(torch.nn.Module):
    """A model whose forward has no ``logits_to_keep`` (older or custom architectures)."""

    def __init__(self, model, poison=False):
        super().__init__()
        self.model, self.config, self.poison = model, model.config, poison

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)
        if self.poison:
            out.logits = torch.full_like(out.logits, float("nan"))
        return out


def test_models_without_logits_to_keep(tiny_model, tokenizer):
    wrapped = score_items(NoLogitsToKeep(tiny_model), tokenizer, ITEMS, batch_size=3)
    direct = score_items(tiny_model, tokenizer, ITEMS, batch_size=3)
    assert [x.mean_logprob for x in wrapped] == pytest.approx([x.mean_logprob for x in direct], abs=1e-5)


def test_non_finite_logits_are_reported_not_returned(tiny_model, tokenizer):
    scores = score_items(NoLogitsToKeep(tiny_model, poison=True), tokenizer, ITEMS[:2])
    assert [s.status for s in scores] == [NON_FINITE, NON_FINITE]
    assert all(s.mean_logprob is None for s in scores)


def test_too_long_and_empty_items_are_skipped(tiny_model, tokenizer):
    items = [ITEMS[0], ScoringItem("Molecule: [START_SMILES]", ""), ITEMS[4]]
    limit = len(sum(encode_item(tokenizer, ITEMS[0]), []))
    scores = score_items(tiny_model, tokenizer, items, max_length=limit)
    assert [s.status for s in scores] == [OK, EMPTY_TARGET, TOO_LONG]
    assert scores[2].mean_logprob is None and scores[2].n_tokens > limit


def test_model_context_is_the_default_limit(tokenizer):
    torch.manual_seed(0)
    short = build_model(ModelConfig(), tokenizer)
    short.config.max_position_embeddings = 8
    assert score_items(short, tokenizer, [ITEMS[1]])[0].status == TOO_LONG


def test_train_mode_is_restored(tiny_model, tokenizer):
    tiny_model.train()
    try:
        score_items(tiny_model, tokenizer, ITEMS[:1])
        assert tiny_model.training
    finally:
        tiny_model.eval()
    score_items(tiny_model, tokenizer, ITEMS[:1])
    assert not tiny_model.training


def test_no_items():
    assert score_items(torch.nn.Linear(1, 1), None, []) == []


def test_candidates_after_one_prefix_share_it_and_score_the_same(tiny_model, tokenizer, monkeypatch):
    from mist_pl.diagnostics import scoring

    prefix = "Classify CC(=O)Cl.NCC>>CC(=O)NCC.<think></think><answer>"
    items = [ScoringItem(prefix, f"{answer}</answer>") for answer in
             ("Acylation", "Reduction", "C-C Coupling", "Heteroatom Alkylation and Arylation", "Protection")]
    items += [ScoringItem("Another question <answer>", "Reduction</answer>"), ITEMS[2]]
    calls = []
    shared = scoring._score_batch_shared
    monkeypatch.setattr(scoring, "_score_batch_shared", lambda *a: calls.append(len(a[2])) or shared(*a))
    together = score_items(tiny_model, tokenizer, items, batch_size=4)
    apart = score_items(tiny_model, tokenizer, items, batch_size=4, share_prefixes=False)
    assert calls and sum(calls) >= 4  # the five candidates ran in batches that share the prefix
    for a, b, item in zip(together, apart, items):
        assert a.status == b.status == OK
        assert a.mean_logprob == pytest.approx(b.mean_logprob, abs=1e-4)
        assert a.mean_logprob == pytest.approx(reference_score(tiny_model, tokenizer, item), abs=1e-4)
