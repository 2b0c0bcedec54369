"""Reading a GRPO run's TensorBoard scalars into "did it learn" numbers."""

import pytest
from torch.utils.tensorboard import SummaryWriter

from mist_pl.eval.grpo_curves import describe_learning, grpo_learning, plot_learning, quarters, summarize_curve


def _write_run(folder, rewards, zero_variance, valid):
    writer = SummaryWriter(str(folder))
    for step, (r, z, v) in enumerate(zip(rewards, zero_variance, valid)):
        writer.add_scalar("reward/mean", r, step)
        writer.add_scalar("groups/zero_variance_frac", z, step)
        writer.add_scalar("task/cond_mat_gen/valid_rate", v, step)
    writer.close()


def test_quarters_and_a_curve_without_points():
    assert quarters([1.0]) == ([1.0], [1.0])
    assert quarters(list(range(8))) == ([0, 1], [6, 7])
    assert summarize_curve([]) == {"n_steps": 0}


def test_rising_reward_is_summarized_with_an_interval(tmp_path):
    rewards = [0.1 + 0.02 * i + (0.01 if i % 2 else -0.01) for i in range(20)]
    _write_run(tmp_path, rewards, [0.25] * 20, [0.2 + 0.03 * i for i in range(20)])
    summary = grpo_learning(tmp_path, "cond_mat_gen")
    reward = summary["reward"]
    assert reward["n_steps"] == 20
    assert reward["first"] == pytest.approx(sum(rewards[:5]) / 5, abs=1e-6)
    assert reward["last"] == pytest.approx(sum(rewards[-5:]) / 5, abs=1e-6)
    assert 0 < reward["rise_lo"] < reward["rise"] < reward["rise_hi"]
    assert summary["signal_frac"] == pytest.approx(0.75)
    assert summary["valid_rate"]["rise"] == pytest.approx(0.45, abs=1e-6)
    assert summary["accuracy"] == {"n_steps": 0}  # never logged
    line = describe_learning(summary)
    assert "20 steps" in line and "groups with reward variance 75%" in line and "valid sampled answers 26% -> 71%" in line
    assert plot_learning({"cond_mat_gen": summary}, tmp_path / "curves.png").stat().st_size > 1000


def test_flat_noisy_reward_has_an_interval_around_zero(tmp_path):
    rewards = [0.3 + (0.05 if i % 2 else -0.05) for i in range(16)]
    _write_run(tmp_path, rewards, [0.0] * 16, [0.8] * 16)
    reward = grpo_learning(tmp_path)["reward"]
    assert reward["rise_lo"] < 0 < reward["rise_hi"]
    assert describe_learning({"reward": {"n_steps": 0}}) == "no GRPO steps logged"
