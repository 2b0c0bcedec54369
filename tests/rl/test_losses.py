import math

import pytest
import torch

from mist_pl.rl.losses import aggregation_weights, grpo_loss, kl_k3, token_entropy, token_logprobs


def _leaf(values):
    return torch.tensor([values], dtype=torch.float64, requires_grad=True)


def _run(logp, old, adv, mask, eps_low=0.2, eps_high=0.2, mode="token", beta=0.0, ref=None, max_tokens=4):
    mask = torch.tensor(mask, dtype=torch.bool)
    weights = aggregation_weights(mask, mode, step_sequences=float(mask.any(-1).sum()), step_tokens=float(mask.sum()),
                                  max_tokens=max_tokens).double()
    loss, stats = grpo_loss(logp, old, torch.tensor(adv, dtype=torch.float64), weights, eps_low, eps_high, beta, ref)
    loss.backward()
    return loss.item(), logp.grad[0].tolist(), stats


def test_symmetric_clip_by_hand():
    logp = _leaf([math.log(0.5), math.log(0.25)])
    old = torch.tensor([[math.log(0.4), math.log(0.25)]], dtype=torch.float64)
    loss, grad, stats = _run(logp, old, [1.0], [[1, 1]])
    # ratios 1.25 (clipped to 1.2, A > 0: no gradient) and 1.0; token mean of -1.2 and -1
    assert loss == pytest.approx(-1.1)
    assert grad == pytest.approx([0.0, -0.5])
    assert (stats.clipped_high, stats.clipped_low, stats.tokens) == (1, 0, 2)


def test_dapo_clip_higher_lets_the_ratio_through():
    logp = _leaf([math.log(0.5), math.log(0.25)])
    old = torch.tensor([[math.log(0.4), math.log(0.25)]], dtype=torch.float64)
    loss, grad, stats = _run(logp, old, [1.0], [[1, 1]], eps_low=0.2, eps_high=0.3)
    assert loss == pytest.approx(-(1.25 + 1.0) / 2)
    assert grad == pytest.approx([-1.25 / 2, -0.5])
    assert stats.clipped_high == 0


def test_negative_advantage_clips_low():
    logp = _leaf([math.log(0.3)])
    old = torch.tensor([[math.log(0.4)]], dtype=torch.float64)
    loss, grad, stats = _run(logp, old, [-1.0], [[1]], eps_low=0.2, eps_high=0.2)
    # ratio 0.75 < 0.8: pg = -min(-0.75, -0.8) = 0.8, constant in logp
    assert loss == pytest.approx(0.8)
    assert grad == pytest.approx([0.0])
    assert stats.clipped_low == 1


@pytest.mark.parametrize(
    "mode, loss_value, grads",
    [
        ("token", -1.0, [-1 / 4, 0, 0, -1 / 4, -1 / 4, -1 / 4]),
        ("sequence", -1.0, [-1 / 2, 0, 0, -1 / 6, -1 / 6, -1 / 6]),
        ("constant", -4 / 8, [-1 / 8, 0, 0, -1 / 8, -1 / 8, -1 / 8]),
    ],
)
def test_aggregation_modes_by_hand(mode, loss_value, grads):
    # two completions of lengths 1 and 3 (3 columns, padded), advantage 1, on-policy
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    weights = aggregation_weights(mask, mode, step_sequences=2, step_tokens=4, max_tokens=4).double()
    loss, _ = grpo_loss(logp, logp.detach(), torch.tensor([1.0, 1.0], dtype=torch.float64), weights, 0.2, 0.2)
    loss.backward()
    assert loss.item() == pytest.approx(loss_value)
    assert logp.grad.flatten().tolist() == pytest.approx(grads)


def test_micro_batches_with_step_counts_sum_to_the_full_step():
    torch.manual_seed(0)
    logp = torch.randn(4, 5, dtype=torch.float64)
    old = logp + 0.1 * torch.randn(4, 5, dtype=torch.float64)
    adv = torch.tensor([1.0, -0.5, 0.3, -1.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    for mode in ("token", "sequence", "constant"):
        def part(rows, mode=mode):
            w = aggregation_weights(mask[rows], mode, step_sequences=4, step_tokens=int(mask.sum()), max_tokens=5).double()
            return grpo_loss(logp[rows], old[rows], adv[rows], w, 0.2, 0.28)[0]
        whole = part(slice(0, 4))
        assert (part(slice(0, 2)) + part(slice(2, 4))).item() == pytest.approx(whole.item())


def test_k3_kl_by_hand_and_zero_when_equal():
    logp = torch.tensor([[math.log(0.5)]], dtype=torch.float64)
    ref = torch.tensor([[math.log(0.25)]], dtype=torch.float64)
    # exp(log .5) - log .5 - 1
    assert kl_k3(logp, ref).item() == pytest.approx(0.5 + math.log(2) - 1)
    assert kl_k3(logp, logp).item() == 0.0
    leaf = logp.clone().requires_grad_(True)
    w = torch.ones(1, 1, dtype=torch.float64)
    loss, stats = grpo_loss(leaf, leaf.detach(), torch.tensor([0.0], dtype=torch.float64), w, 0.2, 0.2, beta=0.1, ref_logp=ref)
    assert loss.item() == pytest.approx(0.1 * (0.5 + math.log(2) - 1))
    assert stats.kl == pytest.approx(0.5 + math.log(2) - 1)


def test_beta_without_reference_is_an_error():
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(x, x, torch.zeros(1), torch.ones(1, 1), 0.2, 0.2, beta=0.1)


def test_nan_in_masked_positions_never_reaches_loss_or_gradient():
    logp = torch.tensor([[-1.0, math.nan], [-2.0, -1.0]], requires_grad=True)
    old = torch.tensor([[-1.0, math.nan], [-2.0, -1.0]])
    ref = torch.tensor([[-1.5, math.nan], [-2.0, -1.0]])
    mask = torch.tensor([[1, 0], [1, 1]], dtype=torch.bool)
    w = aggregation_weights(mask, "token", 2, 3, 2)
    loss, stats = grpo_loss(logp, old, torch.tensor([1.0, -1.0]), w, 0.2, 0.2, beta=0.04, ref_logp=ref)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert logp.grad[0, 1] == 0
    assert math.isfinite(stats.kl)


def test_token_logprobs_and_entropy_match_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 11)
    targets = torch.randint(0, 11, (2, 3))
    for temperature in (1.0, 0.7):
        ref = torch.log_softmax(logits / temperature, -1)
        got = token_logprobs(logits, targets, temperature)
        assert torch.allclose(got, ref.gather(-1, targets[..., None]).squeeze(-1), atol=1e-6)
        entropy = -(ref.exp() * ref).sum(-1)
        assert torch.allclose(token_entropy(logits, temperature), entropy, atol=1e-5)
