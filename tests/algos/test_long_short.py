"""Agents on a long-short book: a residual policy whose tilts may go below zero, its
targets within the book, in lockstep as alone."""

import pytest
import torch

from fin_hgrpo.algos import agent_config, make_agent
from fin_hgrpo.algos.lockstep import Lockstep
from fin_hgrpo.envs import Book, EnvSpec, PortfolioSim
from fin_hgrpo.errors import FinHgrpoError

SMALL = {"algorithm": "hybrid_grpo", "distribution": "tilt", "base": "cash",
         "tilt_scale": 0.3, "n_envs": 6, "n_steps": 5, "hidden": 16, "horizon": 7,
         "sub_steps": 2, "group_size": 4}
BOOK = Book.of(3, min_weight=-0.4, max_weight=0.6, net=(-0.1, 0.1), gross_max=1.0)


def _sims() -> list[PortfolioSim]:
    panel = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 3,
                                             "n_days": 400, "seed": 3}}).load_panel()
    return [PortfolioSim(panel.slice(panel.dates[a], panel.dates[b]),
                         features=[{"name": "log_return"}], window=4, book=BOOK,
                         borrow_bps_year=100.0, dtype=torch.float32)
            for a, b in [(0, 200), (100, 350)]]


def test_a_market_neutral_residual_policy_trains_and_its_targets_keep_the_book():
    agent = make_agent(_sims()[0], agent_config(SMALL))
    agent.learn(240)
    t = torch.arange(agent.sim.first_decision, agent.sim.first_decision + 50)
    held = torch.zeros(len(t), 4)
    held[:, -1] = 1.0
    targets = agent.act(t, held, deterministic=False)
    assert (targets[:, :3] < 0).any()  # it shorts
    for row in targets.double():
        assert BOOK.violation(row[:3].numpy()) is None
        assert row.sum().item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("policy", [{}, {"distribution": "two_books", "base": None}],
                         ids=["tilt", "two_books"])
def test_members_on_a_long_short_book_collect_in_lockstep_what_they_collect_alone(policy):
    alone = [make_agent(sim, agent_config({**SMALL, **policy, "seed": k})) for k, sim in
             enumerate(_sims())]
    together = [make_agent(sim, agent_config({**SMALL, **policy, "seed": k})) for k, sim in
                enumerate(_sims())]
    expected = [member.collect() for member in alone]
    for want, got in zip(expected, Lockstep(together).collect(), strict=True):
        assert torch.allclose(want.rewards, got.rewards, atol=1e-5, rtol=0)
        assert torch.equal(want.t, got.t)


def test_a_long_only_distribution_is_refused_on_a_long_short_book():
    with pytest.raises(FinHgrpoError, match="needs a residual policy"):
        make_agent(_sims()[0], agent_config({**SMALL, "distribution": "dirichlet",
                                             "base": None}))


def test_two_books_start_spread_evenly_and_train_within_a_neutral_book():
    """AlphaStock's parameterisation: a long and a short softmax book. Untrained, every
    asset nets (L - S) / A; trained, its targets keep the book."""
    config = agent_config({**SMALL, "distribution": "two_books", "base": None})
    agent = make_agent(_sims()[0], config)
    assert BOOK.sides() == (0.5, 0.5)
    t = torch.arange(agent.sim.first_decision, agent.sim.first_decision + 30)
    held = torch.zeros(len(t), 4)
    held[:, -1] = 1.0
    start = agent.act(t, held)
    assert torch.allclose(start, torch.tensor([0.0, 0.0, 0.0, 1.0]).expand_as(start))
    agent.learn(240)
    targets = agent.act(t, held, deterministic=False)
    assert (targets[:, :3] < 0).any() and (targets[:, :3] > 0).any()
    for row in targets.double():
        assert BOOK.violation(row[:3].numpy()) is None
    one_thirty = Book.of(3, min_weight=-1.0, max_weight=1.0, net=(1.0, 1.0), gross_max=1.6)
    assert one_thirty.sides() == pytest.approx((1.3, 0.3))


def test_two_books_are_refused_on_a_long_only_portfolio():
    sim = PortfolioSim(_sims()[0].panel, features=[{"name": "log_return"}], window=4,
                       dtype=torch.float32)
    with pytest.raises(FinHgrpoError, match="two_books' needs a long-short book"):
        make_agent(sim, agent_config({**SMALL, "distribution": "two_books", "base": None}))
