import numpy as np
import pytest
import torch

from fin_hgrpo.algos.advantages import gae, group_relative, hybrid, within_group_share
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
    torch.testing.assert_close(hybrid(q, q_executed, value, "group_standardized", None),
                               torch.tensor([[-1.0, 1.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(hybrid(q, q_executed, value, "paper", 0.25),
                               torch.tensor([[0.25 * 0.5 + 0.75 * 2.0, 0.25 * 2.5 + 0.75 * 2.0]]))


def test_the_within_group_share_of_an_advantage():
    """A day's market move shifts every sample of a group alike: per-sample advantages
    q_i - V(s) are then mostly common to the group, which only a group baseline removes."""
    common = torch.tensor([[10.0], [-10.0]])  # what the critic cannot predict
    spread = torch.tensor([[1.0, -1.0], [1.0, -1.0]])  # what tells the samples apart
    assert within_group_share(common + spread) == pytest.approx(1 / 101)
    assert within_group_share(hybrid(common + spread, torch.zeros(2), torch.zeros(2),
                                     "group_baseline", None)) == pytest.approx(1.0)


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


def test_group_scope_standardises_each_step_across_the_group_and_none_leaves_rewards():
    """Rewards are (states, G samples, k steps): each step across the G samples."""
    rewards = torch.tensor([[[1.0, 10.0], [3.0, 30.0]]])  # one state, 2 samples, 2 steps
    torch.testing.assert_close(RewardNormalizer(scope="group")(rewards),
                               torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]]))
    assert RewardNormalizer("none")(rewards) is rewards


def test_group_scope_in_training_keeps_each_samples_reward():
    """The diagnosis' bug: group scope standardised the k axis, so with one scored step
    every normalised reward was exactly 0 and only the critic's terms were left."""
    from fin_hgrpo.algos import HybridGRPO, agent_config
    from fin_hgrpo.envs import EnvSpec

    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 3,
                                            "n_days": 300}, "window": 5,
                                   "features": [{"name": "log_return"}]})
    agent = HybridGRPO(spec.build_sim(dtype=torch.float32), agent_config(
        {"algorithm": "hybrid_grpo", "reward_norm_scope": "group", "n_envs": 4, "n_steps": 2}))
    transformed = agent.transform(agent.collect().rewards)  # (T, E, G, 1)
    assert transformed.abs().min() > 0
    torch.testing.assert_close(transformed.mean(-2), torch.zeros_like(transformed[..., 0, :]),
                               atol=1e-5, rtol=0)
