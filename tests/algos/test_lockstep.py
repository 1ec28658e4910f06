"""Lockstep: members collecting as one batch get the rollouts they collect alone."""

import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.algos import agent_config, make_agent
from fin_hgrpo.algos.lockstep import Lockstep
from fin_hgrpo.algos.rollout import Rollout
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec, PortfolioSim

SMALL = {"n_envs": 6, "n_steps": 5, "hidden": 16, "horizon": 7}


def _sims(listed: bool = False):
    """Three training windows of unequal length; ``listed``: a point-in-time universe
    where a ticker lists late and another delists, and a window in two segments (as
    CPCV trains)."""
    panel = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 3,
                                             "n_days": 500, "seed": 3}}).load_panel()
    segments = [None] * 3
    if listed:
        prices = pd.DataFrame(panel.price_array(), index=panel.dates, columns=panel.tickers)
        prices.iloc[:120, 1] = np.nan  # lists on day 120
        prices.iloc[330:, 2] = np.nan  # delists after day 329
        panel = MarketPanel.from_frame(prices, align="listed")
        segments = [None, None, [(0, 90), (130, 240)]]
    features = [{"name": "log_return"}, {"name": "momentum", "window": 6}]
    return [PortfolioSim(panel.slice(panel.dates[a], panel.dates[b]), features=features,
                         window=4, segments=part, dtype=torch.float32)
            for (a, b), part in zip([(0, 200), (60, 300), (150, 420)], segments, strict=True)]


def _members(extra: dict, listed: bool = False):
    return [make_agent(sim, agent_config({**SMALL, **extra, "seed": seed}))
            for seed, sim in enumerate(_sims(listed))]


CASES = {
    "hybrid_grpo tilt": {"algorithm": "hybrid_grpo", "distribution": "tilt",
                         "base": "inverse_volatility", "trade_rate": 0.5, "sub_steps": 3},
    "hybrid_grpo value selection": {"algorithm": "hybrid_grpo", "selection": "value",
                                    "sub_steps": 2, "group_size": 4},
    "hybrid_grpo mean advances": {"algorithm": "hybrid_grpo", "advance": "mean",
                                  "distribution": "logistic_normal", "sub_steps": 2,
                                  "continuation": "sample"},
    "grpo dirichlet": {"algorithm": "grpo", "distribution": "dirichlet"},
    "ppo": {"algorithm": "ppo"},
}


def _assert_close(alone: Rollout, together: Rollout) -> None:
    for name in Rollout.__annotations__:
        a, b = getattr(alone, name), getattr(together, name)
        if a.dtype.is_floating_point:
            assert torch.allclose(a, b, atol=1e-5, rtol=0), name
        else:
            assert torch.equal(a, b), name


@pytest.mark.parametrize("case", CASES)
def test_members_in_lockstep_collect_what_they_collect_alone(case):
    alone, together = _members(CASES[case]), _members(CASES[case])
    for _ in range(2):  # twice: the episodes carry over, and some restart
        expected = [member.collect() for member in alone]
        for want, got in zip(expected, Lockstep(together).collect(), strict=True):
            _assert_close(want, got)
    for single, member in zip(alone, together, strict=True):
        assert member.states_seen == single.states_seen
        assert member.actions_scored == single.actions_scored
        assert torch.equal(member.episodes.t, single.episodes.t)


def test_lockstep_keeps_each_window_its_own_on_a_point_in_time_universe_in_segments():
    extra = CASES["hybrid_grpo tilt"]
    alone, together = _members(extra, listed=True), _members(extra, listed=True)
    for _ in range(3):
        expected = [member.collect() for member in alone]
        for want, got in zip(expected, Lockstep(together).collect(), strict=True):
            _assert_close(want, got)


def test_joined_simulators_observe_and_score_as_each_does_alone():
    sims = _sims(listed=True)
    joined, offsets = PortfolioSim.joined(sims)
    generator = torch.Generator().manual_seed(0)
    for sim, offset in zip(sims, offsets, strict=True):
        t = torch.cat([torch.arange(a, b + 1) for a, b in sim.decision_ranges])
        holdings = torch.rand(len(t), sim.n_weights, generator=generator)
        holdings /= holdings.sum(-1, keepdim=True)
        targets = torch.rand(len(t), 2, sim.n_weights, generator=generator)
        targets /= targets.sum(-1, keepdim=True)
        assert torch.equal(joined.observe(t + offset), sim.observe(t))
        for want, got in zip(sim.score(t, holdings, targets),
                             joined.score(t + offset, holdings, targets), strict=True):
            assert torch.equal(want, got)
        stops = sim.segment_stop[t]
        assert torch.equal(joined.segment_stop[t + offset], stops + offset)


def test_joined_simulators_charge_each_day_its_own_costs_and_refuse_other_caps():
    first, second = _sims()[:2]
    days = torch.arange(len(second.cost_rate), dtype=second.dtype)[:, None]
    second.cost_rate = second.cost_rate * (1 + days / len(days))  # an estimated spread
    joined, offsets = PortfolioSim.joined([first, second])
    t = torch.arange(second.first_decision, second.last_decision + 1)
    holdings = torch.full((len(t), second.n_weights), 1 / second.n_weights, dtype=second.dtype)
    targets = torch.softmax(torch.randn(len(t), 2, second.n_weights,
                                        generator=torch.Generator().manual_seed(1),
                                        dtype=second.dtype), -1)
    assert torch.equal(joined.score(t + offsets[1], holdings, targets).cost,
                       second.score(t, holdings, targets).cost)
    second.caps = second.caps * 0.5
    with pytest.raises(ValueError, match="simulator 1 differs"):
        PortfolioSim.joined([first, second])
