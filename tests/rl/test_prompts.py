import json

import pytest
import torch

from mist_pl.data.rl_prompts import PromptDataModule, PromptSampler


def _write(path, records, junk=()):
    with path.open("w") as handle:
        for r in records:
            handle.write(json.dumps(r) + "\n")
        for line in junk:
            handle.write(line + "\n")
    return str(path)


def _module(tokenizer, path, **kw):
    dm = PromptDataModule(train_path=path, **kw)
    dm.attach_tokenizer(tokenizer)
    dm.setup("fit")
    return dm


def _batches(dm):
    return list(dm.train_dataloader())


def test_chat_template_left_padding_columns_and_bad_lines(tokenizer, tmp_path):
    records = [{"prompt": "short", "answer": "A"}, {"prompt": "a much longer prompt " * 3, "answer": "B"}]
    path = _write(tmp_path / "p.jsonl", records, junk=["{not json", "[1, 2]"])
    dm = _module(tokenizer, path, batch_size=2, shuffle=False)
    assert dm.counts["unreadable"] == 2 and dm.counts["kept"] == 2
    (batch,) = _batches(dm)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1 and mask[1].all()  # left-padded
    assert (ids[mask == 0] == tokenizer.pad_token_id).all()
    expected = tokenizer.apply_chat_template([{"role": "user", "content": "short"}], add_generation_prompt=True, return_dict=True)
    assert ids[0][mask[0].bool()].tolist() == list(expected["input_ids"])
    assert tokenizer.decode(ids[0][mask[0].bool()]).endswith("<|im_start|>assistant\n")
    assert batch["columns"]["answer"] == ["A", "B"]
    assert batch["columns"]["origin"][0].endswith("p.jsonl:1")


def test_overlong_prompts_are_rejected_or_truncated_with_counts(tokenizer, tmp_path):
    records = [{"prompt": "ok"}, {"prompt": "word " * 200}, {"prompt": "fine too"}]
    path = _write(tmp_path / "p.jsonl", records)
    rejected = _module(tokenizer, path, batch_size=1, max_prompt_tokens=32, overlong="reject")
    assert (rejected.counts["rejected"], rejected.counts["kept"]) == (1, 2)
    cut = _module(tokenizer, path, batch_size=1, max_prompt_tokens=32, overlong="truncate")
    assert (cut.counts["truncated"], cut.counts["kept"]) == (1, 3)
    lengths = [len(ids) for ids in cut.dataset.prompt_ids]
    assert max(lengths) == 32
    longest = cut.dataset.prompt_ids[lengths.index(32)]
    assert tokenizer.decode(longest).endswith("<|im_start|>assistant\n")  # generation prompt survives


def test_missing_prompts_come_from_the_task_or_are_counted(tokenizer, tmp_path):
    path = _write(tmp_path / "p.jsonl", [{"prompt": "has one"}, {"answer": "no prompt, no task"}])
    dm = _module(tokenizer, path, batch_size=1)
    assert dm.counts["no_prompt"] == 1 and dm.counts["kept"] == 1


def test_order_is_seeded_and_resumes_mid_epoch(tokenizer, tmp_path):
    path = _write(tmp_path / "p.jsonl", [{"prompt": f"question {i}", "i": i} for i in range(12)])

    def order(dm):
        return [b["columns"]["i"] for b in _batches(dm)]

    first, again = order(_module(tokenizer, path, batch_size=3, seed=7)), order(_module(tokenizer, path, batch_size=3, seed=7))
    assert first == again and len(first) == 4
    assert order(_module(tokenizer, path, batch_size=3, seed=8)) != first
    assert sorted(sum(first, [])) == list(range(12))

    dm = _module(tokenizer, path, batch_size=3, seed=7)
    loader = dm.train_dataloader()
    seen = []
    for batch in loader:  # consume two batches as the trainer would (prefetching aside)
        dm._consumed += batch["input_ids"].shape[0]
        seen.append(batch["columns"]["i"])
        if len(seen) == 2:
            break
    state = dm.state_dict()
    resumed = _module(tokenizer, path, batch_size=3, seed=7)
    resumed.load_state_dict(state)
    assert seen + order(resumed) == first


def test_ranks_get_disjoint_equal_shares():
    shares = [list(PromptSampler(10, num_replicas=3, rank=r, seed=1)) for r in range(3)]
    assert all(len(s) == 3 for s in shares)
    assert len(set(sum(shares, []))) == 9
    sampler = PromptSampler(10, seed=1)
    sampler.set_epoch(1)
    assert list(sampler) != list(PromptSampler(10, seed=1))


def test_examples_from_a_function_and_argument_checks(tokenizer):
    dm = PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=4)
    dm.attach_tokenizer(tokenizer)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[0] == 4 and batch["columns"]["task"] == ["toy_carbon"] * 4
    with pytest.raises(ValueError, match="exactly one"):
        PromptDataModule()
    with pytest.raises(ValueError, match="data.overlong"):
        PromptDataModule(examples_fn="x.y", overlong="drop")
    assert isinstance(batch["index"], torch.Tensor)


def test_columns_set_the_charge_rule_of_every_example_and_a_bad_one_stops_setup(tokenizer, tmp_path):
    records = [{"elements": ["Fe", "O"], "space_group": 227, "oxidation_states": "icsd24_low"},
               {"elements": ["Na", "Cl"], "space_group": 225}]
    path = _write(tmp_path / "p.jsonl", records)
    dm = _module(tokenizer, path, batch_size=2, shuffle=False, task="cond_mat_gen",
                 columns={"oxidation_states": "icsd24_medium", "mixed_valence": True})
    (batch,) = _batches(dm)
    assert batch["columns"]["oxidation_states"] == ["icsd24_medium", "icsd24_medium"]  # the config's value wins
    assert batch["columns"]["mixed_valence"] == [True, True]
    with pytest.raises(ValueError, match=r"p.jsonl:1 \(task cond_mat_gen\): oxidation_states='smact99' is not one of"):
        _module(tokenizer, path, batch_size=2, task="cond_mat_gen", columns={"oxidation_states": "smact99"})
    bad = _write(tmp_path / "bad.jsonl", [{"elements": ["Na", "Cl"], "space_group": 225, "mixed_valence": "yes"}])
    with pytest.raises(ValueError, match="mixed_valence='yes'"):
        _module(tokenizer, bad, batch_size=1, task="cond_mat_gen")
    with pytest.raises(ValueError, match="data.columns"):
        PromptDataModule(train_path=path, columns=["oxidation_states"])
