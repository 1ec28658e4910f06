import numpy as np
import pytest
import torch

from fin_hgrpo.algos.advantages import gae, group_relative, hybrid
from fin_hgrpo.algos.normalization import RewardNormalizer


def test_gae_by_hand():
    """Two steps of one episode, then a truncation that still bootstraps."""
    rewards = torch.tensor([[1.0], [2.0]])
    values = torch.tensor([[0.5], [1.0]])
    next_values = torch.tensor([[1.0], [3.0]])
    terminated = torch.tensor([[False], [False]])
    ended = torch.tensor([[False], [True]])
    adv, ret = gae(rewards, values, next_values, terminated, ended, gamma=0.9, lam=0.5)
    delta1 = 2.0 + 0.9 * 3.0 - 1.0
    delta0 = 1.0 + 0.9 * 1.0 - 0.5
    assert adv[1, 0] == pytest.approx(delta1)
    assert adv[0, 0] == pytest.approx(delta0 + 0.9 * 0.5 * delta1)
    torch.testing.assert_close(ret, adv + values)
    # at the end of the data there is nothing to bootstrap
    adv, _ = gae(rewards, values, next_values, torch.tensor([[False], [True]]), ended, 0.9, 0.5)
    assert adv[1, 0] == pytest.approx(2.0 - 1.0)


def test_group_relative_standardises_within_each_group():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 8.0]])
    adv = group_relative(rewards)
    torch.testing.assert_close(adv.mean(-1), torch.zeros(2))
    torch.testing.assert_close(adv.std(-1, unbiased=False), torch.ones(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(group_relative(rewards, scale=False)[0], torch.tensor([-1., 0, 1]))


def test_hybrid_advantage_forms():
    q = torch.tensor([[1.0, 3.0]])
    q_executed = torch.tensor([2.5])
    value = torch.tensor([0.5])
    torch.testing.assert_close(hybrid(q, q_executed, value, "paper", None),
                               torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(hybrid(q, q_executed, value, "per_sample", None),
                               torch.tensor([[0.5, 2.5]]))
    torch.testing.assert_close(hybrid(q, q_executed, value, "group_baseline", None),
                               torch.tensor([[-1.0, 1.0]]))
    torch.testing.assert_close(hybrid(q, q_executed, value, "paper", 0.25),
                               torch.tensor([[0.25 * 0.5 + 0.75 * 2.0, 0.25 * 2.5 + 0.75 * 2.0]]))


def test_welford_running_moments_equal_the_moments_of_everything_seen():
    rng = np.random.default_rng(0)
    batches = [rng.normal(1e-3, 2e-2, size) for size in (7, 100, 33)]
    norm = RewardNormalizer("welford")
    for batch in batches:
        norm.update(torch.tensor(batch))
    seen = np.concatenate(batches)
    assert norm.mean == pytest.approx(seen.mean(), rel=1e-12)
    assert norm.var == pytest.approx(seen.var(), rel=1e-10)
    scaled = norm(torch.tensor([[seen.mean() + seen.std()]]))
    assert scaled.item() == pytest.approx(1.0, rel=1e-6)


def test_ema_follows_a_change_of_scale_and_clipping_bounds_outliers():
    norm = RewardNormalizer("ema", decay=0.5, clip=3.0)
    norm.update(torch.full((10,), 1.0) + torch.arange(10) * 1e-3)
    norm.update(torch.full((10,), 100.0) + torch.arange(10) * 1e-3)
    assert norm.mean == pytest.approx(0.5 * 1.0045 + 0.5 * 100.0045)
    assert norm(torch.tensor([[1e9]])).item() == 3.0


def test_group_scope_and_none():
    rewards = torch.tensor([[1.0, 3.0]])
    torch.testing.assert_close(RewardNormalizer(scope="group")(rewards), torch.tensor([[-1., 1.]]))
    assert RewardNormalizer("none")(rewards) is rewards
