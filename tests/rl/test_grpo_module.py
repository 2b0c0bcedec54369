import math

import pytest
import torch
from rl_helpers import chat_ids, run_toy

from mist_pl.models.chat import left_pad
from mist_pl.models.factory import ModelConfig
from mist_pl.modules.grpo import GRPOModule
from mist_pl.rl.config import BatchSizeError, GRPOConfig
from mist_pl.rl.rollouts import Rollouts
from mist_pl.rl.sampling import SamplingConfig

TOY_REWARD = [{"fn": "mist_pl.rl.toy.carbon_reward", "weight": 1.0}]


def _module(beta=0.04, **grpo):
    torch.manual_seed(0)
    module = GRPOModule(
        lm=ModelConfig(),
        grpo=GRPOConfig(**{"prompts_per_round": 2, "num_generations": 4, "micro_batch_size": 4, "beta": beta,
                           "reward_runner": "thread", **grpo}),
        sampling=SamplingConfig(max_new_tokens=6),
        rewards=TOY_REWARD,
    )
    module.configure_model()
    return module


def _batch(tokenizer, prompts):
    ids, mask = left_pad([chat_ids(tokenizer, p) for p in prompts], tokenizer.pad_token_id)
    return {"input_ids": ids, "attention_mask": mask, "columns": {"prompt": list(prompts), "task": ["toy"] * len(prompts)}}


def _close(a, b):
    """Equal up to float32 summation-order noise, relative to the tensor's scale."""
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()) + 1e-9)


def _step_loss(module, rollouts):
    """The whole round as one optimizer step, micro-batch by micro-batch: (loss, grads, stats)."""
    module.model.zero_grad(set_to_none=True)
    tokens = float(rollouts.loss_mask.sum())
    sequences = float(rollouts.loss_mask.any(-1).sum())
    total, stats = 0.0, []
    for part in torch.arange(len(rollouts)).split(module.grpo.micro_batch_size):
        loss, s, _ = module.micro_batch_loss(rollouts.micro_batch(part), tokens, sequences)
        loss.backward()
        total += loss.item()
        stats.append(s)
    grads = [p.grad.clone() for p in module.model.parameters()]
    return total, grads, stats


def test_kl_is_zero_at_step_zero(tokenizer):
    module = _module(beta=0.04)
    assert module.reference is not None and not any(p.requires_grad for p in module.reference.parameters())
    rollouts, metrics, _ = module.collect_rollouts(_batch(tokenizer, ["Write CCO", "Name a longer reaction please"]))
    assert rollouts.ref_logprobs is not None and rollouts.old_logprobs is None  # mu = 1: on-policy
    _, _, stats = _step_loss(module, rollouts)
    assert sum(s.tokens for s in stats) == rollouts.loss_mask.sum()
    assert sum(s.kl for s in stats) == 0.0
    assert metrics["completions/length_mean"] > 0


def test_beta_zero_keeps_no_reference(tokenizer):
    module = _module(beta=0.0)
    assert module.reference is None
    rollouts, _, _ = module.collect_rollouts(_batch(tokenizer, ["a", "b"]))
    assert rollouts.ref_logprobs is None
    _, _, stats = _step_loss(module, rollouts)
    assert all(s.kl is None for s in stats)


def _hand_rollouts(tokenizer, pad_value=None, extra_left_pad=0):
    """Three prompts x two completions of different lengths, padded both ways."""
    torch.manual_seed(1)
    texts = ["Write CCO", "a much longer prompt about a reaction", "hi"]
    prompts = [chat_ids(tokenizer, t) for t in texts for _ in range(2)]
    n = len(prompts)
    ids, mask = left_pad(prompts, tokenizer.pad_token_id)
    if extra_left_pad:
        ids = torch.cat([torch.full((n, extra_left_pad), tokenizer.pad_token_id), ids], 1)
        mask = torch.cat([torch.zeros(n, extra_left_pad, dtype=torch.long), mask], 1)
    vocab = len(tokenizer)  # random ids stay inside the tokenizer's vocabulary
    lengths = torch.tensor([5, 2, 7, 1, 3, 6])
    completion_mask = (torch.arange(7)[None] < lengths[:, None]).long()
    completion = torch.randint(10, vocab, (n, 7))
    completion = torch.where(completion_mask.bool(), completion, tokenizer.pad_token_id)
    if pad_value is not None:  # garbage wherever the masks say "padding"
        g = torch.Generator().manual_seed(pad_value)
        ids = torch.where(mask.bool(), ids, torch.randint(10, vocab, ids.shape, generator=g))
        completion = torch.where(completion_mask.bool(), completion, torch.randint(10, vocab, completion.shape, generator=g))
    return Rollouts(ids, mask, completion, completion_mask, completion_mask.bool(),
                    advantages=torch.tensor([1.0, -0.5, 0.25, -1.0, 0.7, -0.2]),
                    group=torch.arange(3).repeat_interleave(2))


@pytest.mark.parametrize("aggregation", ["token", "sequence", "constant"])
def test_padding_never_contributes_to_loss_or_gradients(tokenizer, aggregation):
    module = _module(beta=0.0, loss_aggregation=aggregation, micro_batch_size=2)  # one group per micro-batch
    base_loss, base_grads, _ = _step_loss(module, _hand_rollouts(tokenizer))
    for variant in (dict(pad_value=5), dict(pad_value=6, extra_left_pad=3)):
        loss, grads, _ = _step_loss(module, _hand_rollouts(tokenizer, **variant))
        assert loss == pytest.approx(base_loss, rel=1e-5, abs=1e-7)
        for g, h in zip(grads, base_grads):
            assert torch.isfinite(g).all()
            assert _close(g, h)


def test_micro_batching_equals_one_big_batch(tokenizer):
    small = _module(beta=0.0, micro_batch_size=1)
    big = _module(beta=0.0, micro_batch_size=8)
    big.model.load_state_dict(small.model.state_dict())
    loss_a, grads_a, _ = _step_loss(small, _hand_rollouts(tokenizer))
    loss_b, grads_b, _ = _step_loss(big, _hand_rollouts(tokenizer))
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert all(_close(a, b) for a, b in zip(grads_a, grads_b))


def test_prompt_shared_forward_equals_the_full_forward(tokenizer):
    shared = _module(beta=0.0, micro_batch_size=8, share_prompt_forward=True)
    full = _module(beta=0.0, micro_batch_size=8, share_prompt_forward=False)
    full.model.load_state_dict(shared.model.state_dict())
    loss_a, grads_a, _ = _step_loss(shared, _hand_rollouts(tokenizer))
    loss_b, grads_b, _ = _step_loss(full, _hand_rollouts(tokenizer))
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert all(_close(a, b) for a, b in zip(grads_a, grads_b))
    micro = _hand_rollouts(tokenizer).micro_batch(torch.arange(6))
    with torch.no_grad():
        from mist_pl.rl.forward import completion_logits

        a = completion_logits(shared.model, micro, True)
        b = completion_logits(shared.model, micro, False)
    keep = micro.completion_mask.bool()  # after a completion ends, positions are free to differ
    assert a.shape == b.shape and torch.allclose(a[keep], b[keep], atol=1e-4)


def test_zero_variance_groups_can_be_dropped(tokenizer):
    rewards = [{"fn": "rl_rewards_fixtures.constant_for_first_prompt"}]
    for drop in (False, True):
        torch.manual_seed(0)
        module = GRPOModule(grpo=GRPOConfig(prompts_per_round=2, num_generations=4, micro_batch_size=4,
                                            drop_zero_variance_groups=drop, beta=0.0, reward_runner="thread"),
                            sampling=SamplingConfig(max_new_tokens=6, stop_strings=[]), rewards=rewards)
        module.configure_model()
        rollouts, metrics, _ = module.collect_rollouts(_batch(tokenizer, ["the first one", "another prompt here"]))
        assert metrics["groups/zero_variance_frac"] == 0.5
        assert rollouts.advantages[:4].tolist() == [0, 0, 0, 0]
        assert rollouts.loss_mask[:4].any().item() is (not drop)
        assert rollouts.loss_mask[4:].any()


def test_nonfinite_old_logprobs_drop_the_rollout(tokenizer, monkeypatch):
    module = _module(beta=0.0, steps_per_round=2)  # off-policy steps: old log-probs are stored
    real = module.logprobs_of

    def poisoned(model, rollouts):
        out = real(model, rollouts)
        out[1, 0] = math.nan
        return out

    monkeypatch.setattr(module, "logprobs_of", poisoned)
    rollouts, metrics, _ = module.collect_rollouts(_batch(tokenizer, ["a", "b"]))
    assert metrics["rollouts/nonfinite_logprobs"] == 1
    assert not rollouts.loss_mask[1].any() and rollouts.loss_mask[0].any()
    loss, grads, _ = _step_loss(module, rollouts)
    assert math.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)


def test_wrong_batch_size_fails_naming_the_fields(tokenizer):
    module = _module()
    with pytest.raises(BatchSizeError, match="grpo.prompts_per_round=2"):
        module.training_step(_batch(tokenizer, ["a", "b", "c"]), 0)
    with pytest.raises(ValueError, match="model.rewards"):
        GRPOModule(rewards=[])


def test_toy_reward_rises_and_beta_zero_logs_no_kl(tmp_path):
    _, rounds = run_toy(tmp_path, steps=22)
    rewards = [r["reward/mean"] for r in rounds]
    assert len(rewards) == 22
    first, last = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert last > first + 0.15, rewards
    assert "train/kl" not in rounds[-1]
    assert all(math.isfinite(v) for v in rounds[-1].values())
    for key in ("reward/carbon_reward/mean", "groups/zero_variance_frac", "train/clip_frac", "train/entropy",
                "perf/sampling_tokens_per_s", "perf/train_tokens_per_s", "completions/length_mean",
                "task/toy_carbon/reward_mean", "reward/carbon_reward/failed"):
        assert key in rounds[-1], key


def test_same_seed_same_run(tmp_path):
    a, rounds_a = run_toy(tmp_path / "a", steps=3, seed=5)
    b, rounds_b = run_toy(tmp_path / "b", steps=3, seed=5)
    assert [r["reward/mean"] for r in rounds_a] == [r["reward/mean"] for r in rounds_b]
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_several_updates_per_round_with_reference(tmp_path):
    module, rounds = run_toy(tmp_path, steps=8, grpo={"steps_per_round": 2, "num_iterations": 2, "micro_batch_size": 8,
                                                      "beta": 0.04, "epsilon_high": 0.28, "ref_refresh_steps": 4})
    assert len(rounds) == 2 and module.global_step == 8  # 2 rounds x (2 steps x 2 passes)
    last = rounds[-1]
    assert last["train/kl"] >= 0 and math.isfinite(last["train/kl"])
    assert last["train/ratio_mean"] != 1.0  # later steps are off-policy against stored log-probs
    # refreshed at step 8: the reference equals the policy again
    for p, q in zip(module.model.parameters(), module.reference.parameters()):
        assert torch.equal(p, q)


def test_datamodule_batch_size_must_match(tmp_path):
    with pytest.raises(BatchSizeError, match="data.batch_size=3"):
        run_toy(tmp_path, steps=1, batch_size=3)


def test_prompt_plus_completion_longer_than_the_context_fails_at_start(tmp_path):
    # tiny: 2048 positions; default data.max_prompt_tokens=256, so 1900 new tokens overflow
    from mist_pl.modules.checks import DataModelMismatchError

    with pytest.raises(DataModelMismatchError, match=r"max_prompt_tokens=256 \+ sampling.max_new_tokens=1900"):
        run_toy(tmp_path, steps=1, sampling={"max_new_tokens": 1900})


def test_rewards_default_to_the_tasks_declared_rewards():
    """GRPO on a task scores with the task's own rewards (Task.rewards) unless the config
    lists some; an explicit list still wins, and an unknown task is named."""
    from mist_pl.runtime.imports import import_object
    from mist_pl.tasks.registry import get_task

    grpo = GRPOConfig(prompts_per_round=2, num_generations=4, micro_batch_size=4, reward_runner="thread")
    module = GRPOModule(grpo=grpo, task="rxn_naming")
    declared = get_task("rxn_naming").rewards
    assert [import_object(s.fn) for s in module.reward_specs] == [r.fn for r in declared]
    assert [s.weight for s in module.reward_specs] == [r.weight for r in declared]
    assert module.hparams["rewards"][0]["fn"] == "mist_pl.tasks.rxn_naming.rxn_naming_reward"
    explicit = GRPOModule(grpo=grpo, task="rxn_naming", rewards=[{"fn": "mist_pl.tasks.answer.format_reward"}])
    assert [s.fn for s in explicit.reward_specs] == ["mist_pl.tasks.answer.format_reward"]
    with pytest.raises(ValueError, match="model.task='no_such_task'.*unknown task"):
        GRPOModule(grpo=grpo, task="no_such_task")
