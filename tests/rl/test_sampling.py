from types import SimpleNamespace

import pytest
import torch
from rl_helpers import chat_ids

from mist_pl.models.chat import left_pad
from mist_pl.rl.sampling import HFSampler, SamplingConfig, sample_next_token, stop_token_ids

PROMPTS = ["Write CCO", "Name this reaction: CC(=O)O.OCC>>CC(=O)OCC please", "hi"]


class CountdownLM(torch.nn.Module):
    """Scripted model: after token 10 + k it emits 10 + k - 1, and EOS after 11, so a
    prompt ending in 10 + k yields k tokens. Counts its forward calls."""

    def __init__(self, config, vocab: int, eos: int, stop_after: int | None = None, stop_id: int | None = None):
        super().__init__()
        self.config, self.vocab, self.eos = config, vocab, eos
        self.stop_after, self.stop_id = stop_after, stop_id
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=True, logits_to_keep=0):
        self.calls += 1
        last = input_ids[:, -1]
        nxt = torch.where(last > 11, last - 1, torch.full_like(last, self.eos))
        if self.stop_id is not None:  # emit stop_id at a fixed completion step instead
            step = attention_mask.shape[1] - 4  # completion index: prompts below are 4 tokens wide
            if step == self.stop_after:
                nxt = torch.full_like(last, self.stop_id)
        logits = torch.full((input_ids.shape[0], 1, self.vocab), -1e4)
        logits[torch.arange(len(nxt)), 0, nxt] = 1e4
        # keep the cache growing like a real model's so the sampler's bookkeeping is exercised
        if cache is not None:
            kv = torch.zeros(input_ids.shape[0], 1, input_ids.shape[1], 2)
            cache.update(kv, kv, 0)
        return SimpleNamespace(logits=logits)


@pytest.fixture()
def countdown(tokenizer, tiny_model):
    return lambda **kw: CountdownLM(tiny_model.config, len(tokenizer), tokenizer.eos_token_id, **kw)


def _countdown_prompts(ks, pad_id):
    return left_pad([[5, 6, 7, 10 + k] for k in ks], pad_id)


def test_greedy_left_padding_matches_each_prompt_alone(tokenizer, tiny_model):
    sampler = HFSampler(SamplingConfig(max_new_tokens=16, temperature=0, stop_strings=[]), tokenizer)
    rows = [chat_ids(tokenizer, p) for p in PROMPTS]
    ids, mask = left_pad(rows, tokenizer.pad_token_id)
    assert mask[0].sum() < mask.shape[1]  # really padded
    batch = sampler.generate(tiny_model, ids, mask, num_generations=2)
    for i, row in enumerate(rows):
        alone = sampler.generate(tiny_model, torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long))
        n = int(alone.completion_mask[0].sum())
        assert batch.completion_ids[2 * i, :n].tolist() == alone.completion_ids[0, :n].tolist()
        assert batch.completion_ids[2 * i].tolist() == batch.completion_ids[2 * i + 1].tolist()  # greedy: G copies agree


def test_greedy_matches_transformers_generate(tokenizer, tiny_model):
    sampler = HFSampler(SamplingConfig(max_new_tokens=12, temperature=0, stop_strings=[]), tokenizer)
    ids, mask = left_pad([chat_ids(tokenizer, p) for p in PROMPTS], tokenizer.pad_token_id)
    ours = sampler.generate(tiny_model, ids, mask)
    theirs = tiny_model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                                 eos_token_id=sampler.stop_ids, pad_token_id=tokenizer.pad_token_id)
    width = ours.completion_ids.shape[1]
    assert torch.equal(ours.completion_ids, theirs[:, ids.shape[1]:ids.shape[1] + width])


def test_multi_token_stop_string_ends_the_completion(tokenizer, tiny_model):
    # Sampled (greedy output of a random model repeats one token); same seed, same draws.
    ids = torch.tensor([chat_ids(tokenizer, PROMPTS[0])])
    mask = torch.ones_like(ids)
    torch.manual_seed(3)
    free = HFSampler(SamplingConfig(max_new_tokens=16, stop_strings=[]), tokenizer).generate(tiny_model, ids, mask)
    tokens = free.completion_ids[0].tolist()
    # a stop string spanning tokens k-1 and k that first occurs right at the end of token k
    for k in range(2, len(tokens)):
        stop, text = tokenizer.decode(tokens[k - 1 : k + 1]), tokenizer.decode(tokens[: k + 1])
        if text.find(stop) + len(stop) == len(text) and len(tokenizer.decode(tokens[k : k + 1])) < len(stop):
            break
    else:
        pytest.fail(f"no usable two-token stop string in {tokens}")
    torch.manual_seed(3)
    stopped = HFSampler(SamplingConfig(max_new_tokens=16, stop_strings=[stop]), tokenizer).generate(tiny_model, ids, mask)
    assert stopped.completion_ids[0].tolist() == tokens[: k + 1]
    assert stopped.completion_mask[0].tolist() == [1] * (k + 1)
    assert stopped.stopped.tolist() == [True]
    assert tokenizer.decode(stopped.completion_ids[0]).endswith(stop)


def test_answer_tag_is_a_token_stop_and_padding_follows(tokenizer, countdown):
    answer_id = tokenizer.convert_tokens_to_ids("</answer>")
    sampler = HFSampler(SamplingConfig(max_new_tokens=10, temperature=0, stop_strings=["</answer>"]), tokenizer)
    assert answer_id in sampler.stop_ids and sampler.text_stops == []
    ids, mask = _countdown_prompts([9, 9], tokenizer.pad_token_id)
    out = sampler.generate(countdown(stop_after=2, stop_id=answer_id), ids, mask)
    assert out.completion_ids[:, 2].tolist() == [answer_id, answer_id]
    assert out.completion_mask.sum(-1).tolist() == [3, 3]
    assert out.completion_ids.shape[1] == 3  # stopped early: no column beyond the last stop


def test_stops_early_when_all_rows_finished_and_compaction_is_exact(tokenizer, countdown):
    ids, mask = _countdown_prompts([2, 5, 3], tokenizer.pad_token_id)
    results = {}
    for compact in (0.0, 1.0):
        model = countdown()
        sampler = HFSampler(SamplingConfig(max_new_tokens=20, temperature=0, compact_below=compact), tokenizer)
        out = sampler.generate(model, ids, mask, num_generations=2)
        results[compact] = out
        assert out.completion_mask.sum(-1).tolist() == [2, 2, 5, 5, 3, 3]
        assert out.stopped.all()
        assert model.calls == 5  # prefill + 4 decode steps: the longest row needs 5 tokens
    assert torch.equal(results[0.0].completion_ids, results[1.0].completion_ids)
    eos = tokenizer.eos_token_id
    assert results[0.0].completion_ids[0].tolist() == [11, eos, *[tokenizer.pad_token_id] * 3]


def test_waits_for_other_ranks_with_the_same_number_of_forwards(tokenizer, countdown):
    ids, mask = _countdown_prompts([2, 2], tokenizer.pad_token_id)
    model = countdown()
    other_rank_steps = iter([False] * 6 + [True] * 100)  # another rank finishes later
    sampler = HFSampler(SamplingConfig(max_new_tokens=20, temperature=0), tokenizer)
    out = sampler.generate(model, ids, mask, all_finished=lambda done: done and next(other_rank_steps))
    assert model.calls > 2  # kept decoding (dummy row) instead of leaving the collective
    assert out.completion_mask.sum(-1).tolist() == [2, 2]  # local results unaffected


def test_sampling_draws_differ_across_the_group(tokenizer, tiny_model):
    torch.manual_seed(0)
    sampler = HFSampler(SamplingConfig(max_new_tokens=6, temperature=1.0, stop_strings=[]), tokenizer)
    ids = torch.tensor([chat_ids(tokenizer, PROMPTS[0])])
    out = sampler.generate(tiny_model, ids, torch.ones_like(ids), num_generations=4)
    assert out.completion_ids.shape == (4, 6)
    assert len({tuple(r) for r in out.completion_ids.tolist()}) > 1


def test_top_k_and_top_p_restrict_the_support():
    torch.manual_seed(0)
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]]).repeat(2000, 1)
    assert set(sample_next_token(logits, 1.0, top_k=2).tolist()) == {0, 1}
    probs = logits[0].softmax(-1)  # 0.64, 0.24, 0.09, ...: top_p 0.8 keeps the first two
    assert probs[0] < 0.8 < probs[:2].sum()
    assert set(sample_next_token(logits, 1.0, top_p=0.8).tolist()) == {0, 1}
    assert set(sample_next_token(logits, 1.0, top_p=0.01).tolist()) == {0}
    assert set(sample_next_token(logits, 0.0).tolist()) == {0}
    assert len(set(sample_next_token(logits, 1.0).tolist())) == 5


def test_stop_ids_include_eos_and_end_of_turn(tokenizer):
    ids, text = stop_token_ids(tokenizer, ["</answer>", "STOP"])
    assert tokenizer.eos_token_id in ids and tokenizer.convert_tokens_to_ids("<|im_end|>") in ids
    assert text == ["STOP"]


def test_engines_that_never_ran_are_not_accepted():
    """Only engines that have run end to end are accepted (hf, vllm: tests/rl/test_vllm_engine.py);
    any other name fails at start-up naming the engines there are."""
    assert SamplingConfig(engine="vllm").engine == "vllm"
    with pytest.raises(ValueError, match=r"sampling.engine='sglang' is not one of \('hf', 'vllm'\)"):
        SamplingConfig(engine="sglang")


@pytest.mark.parametrize("kwargs", [{"max_new_tokens": 0}, {"top_p": 0.0}, {"engine": "sglang"}, {"temperature": -1}])
def test_bad_sampling_options_fail(kwargs):
    with pytest.raises(ValueError, match="sampling."):
        SamplingConfig(**kwargs)
