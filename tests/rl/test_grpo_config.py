import pytest

from mist_pl.rl.config import BatchSizeError, GRPOConfig


def test_derived_sizes_state_one_round():
    cfg = GRPOConfig(prompts_per_round=4, num_generations=8, steps_per_round=2, micro_batch_size=4, num_iterations=3)
    assert cfg.rollouts_per_round == 32
    assert cfg.rollouts_per_step == 16
    assert cfg.grad_accum_steps == 4
    assert cfg.optimizer_steps_per_round == 6
    assert cfg.needs_old_logprobs
    assert "4 prompts x 8 completions = 32 rollouts -> 6 optimizer steps" in cfg.describe()
    assert not GRPOConfig(steps_per_round=1, num_iterations=1).needs_old_logprobs


@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({"prompts_per_round": 3, "num_generations": 5, "steps_per_round": 2}, ["grpo.prompts_per_round", "grpo.num_generations", "grpo.steps_per_round=2"]),
        ({"prompts_per_round": 4, "num_generations": 8, "micro_batch_size": 5}, ["grpo.micro_batch_size=5", "grpo.steps_per_round"]),
        ({"num_generations": 1}, ["grpo.num_generations=1"]),
        ({"micro_batch_size": 0}, ["grpo.micro_batch_size=0"]),
    ],
)
def test_indivisible_sizes_fail_naming_the_fields(kwargs, names):
    with pytest.raises(BatchSizeError) as info:
        GRPOConfig(**kwargs)
    for name in names:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"beta": -1}, "grpo.beta"), ({"loss_aggregation": "mean"}, "grpo.loss_aggregation"),
     ({"advantage_scaling": "yes"}, "grpo.advantage_scaling"), ({"epsilon_low": 1.5}, "grpo.epsilon_low")],
)
def test_bad_options_name_the_field(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GRPOConfig(**kwargs)
