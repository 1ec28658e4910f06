"""Policies read a group of portfolios on one day as they read each alone."""

import pytest
import torch

from fin_hgrpo.algos.policies import Policy, flat_rows


@pytest.mark.parametrize("encoder", ["mlp", "shared"])
@pytest.mark.parametrize("distribution", ["dirichlet", "logistic_normal", "tilt"])
def test_a_group_of_portfolios_reads_as_the_same_portfolios_one_by_one(encoder, distribution):
    """What Hybrid GRPO's continuations rely on: G portfolios on each of B days, the
    day's features given once, are the B x G rows of the portfolios given one by one."""
    torch.manual_seed(0)
    policy = Policy(5, 3, 2, hidden=8, encoder=encoder, distribution=distribution)
    for parameter in policy.parameters():  # away from the zero-initialised head
        parameter.data.normal_(0.0, 0.3)
    features = torch.randn(4, 5, 3, 2)
    holdings = torch.softmax(torch.randn(4, 6, 4), -1)
    grouped = flat_rows(policy(features, holdings))
    alone = policy(features.repeat_interleave(6, 0), holdings.reshape(24, 4))
    assert grouped.batch_shape == alone.batch_shape == (24,)
    torch.testing.assert_close(grouped.mean, alone.mean)
    actions = alone.sample()
    torch.testing.assert_close(grouped.log_prob(actions), alone.log_prob(actions))
