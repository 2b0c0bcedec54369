import math

import pytest
import torch

from mist_pl.rl.advantages import group_advantages

NAN = math.nan


def test_group_std_scaling_by_hand():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 2.0, 2.0]), 4, "group", eps=0.0)
    # group 1: mean 0.5, population std 0.5; group 2: mean 2, std sqrt(0.5)
    s = math.sqrt(0.5)
    assert adv.values.tolist() == pytest.approx([1, -1, -1, 1, 1 / s, -1 / s, 0, 0])
    assert adv.zero_variance.tolist() == [False, False]


def test_no_std_scaling_is_plain_centering():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 2.0, 2.0]), 4, "none")
    assert adv.values.tolist() == pytest.approx([0.5, -0.5, -0.5, 0.5, 1, -1, 0, 0])


def test_batch_std_scaling_uses_the_whole_round():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv = group_advantages(rewards, 4, "batch", eps=0.0)
    std = math.sqrt(0.6875)  # population std of the 8 rewards (mean 1.25)
    assert adv.values.tolist() == pytest.approx([0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std, 0, 0, 0, 0])


def test_zero_variance_groups_get_zero_advantage_and_are_flagged():
    adv = group_advantages(torch.tensor([0.2, 0.2, 0.2, 1.0, 0.0, 1.0]), 3, "group")
    assert adv.zero_variance.tolist() == [True, False]
    assert adv.values[:3].tolist() == [0, 0, 0]
    assert torch.isfinite(adv.values).all()


def test_unscored_completions_get_zero_and_do_not_shift_siblings():
    adv = group_advantages(torch.tensor([1.0, NAN, 0.0, 0.5, NAN, NAN, 1.0, NAN]), 4, "group", eps=0.0)
    std = math.sqrt(1 / 6)  # valid rewards 1, 0, 0.5: mean 0.5
    assert adv.values[:4].tolist() == pytest.approx([0.5 / std, 0, -0.5 / std, 0])
    assert adv.scored.tolist() == [True, False, True, True, False, False, True, False]
    # one scored completion: no comparison possible, counted as zero-variance
    assert adv.zero_variance.tolist() == [False, True]
    assert adv.values[4:].tolist() == [0, 0, 0, 0]


def test_rewards_must_split_into_groups():
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(torch.zeros(4), 3)
