"""Episodes: where training episodes start and how they end (the review's M1)."""

import numpy as np
import pytest
import torch

from fin_hgrpo.envs import EnvSpec, Episodes, Reward
from tests.envs.conftest import tiny_sim


def _window_sim(decision_days: int):
    """A training window shaped like a default fold's: ``decision_days`` decision days."""
    spec = EnvSpec.model_validate({
        "data": {"source": "synthetic:iid", "n_assets": 3, "n_days": decision_days + 31,
                 "seed": 2},
        "features": [{"name": "log_return"}, {"name": "momentum", "window": 10}],
        "window": 10})
    sim = spec.build_sim()
    assert sim.last_decision - sim.first_decision + 1 == decision_days
    return sim


def _visits(sim, horizon: int, states: int, seed: int = 0, n: int = 256) -> np.ndarray:
    """How often ``n`` training episodes visit each decision day in ``states`` steps."""
    episodes = Episodes(sim, Reward(), n, horizon=horizon, random_start=True)
    rng = np.random.default_rng(seed)
    episodes.reset(rng)
    cash = torch.zeros(n, sim.n_weights, dtype=sim.dtype)
    cash[:, -1] = 1.0
    visits = np.zeros(len(sim.dates))
    for _ in range(states // n):
        np.add.at(visits, episodes.t.numpy(), 1)
        step = episodes.step(cash)
        episodes.reset(rng, step.terminated | step.truncated)
    return visits[sim.first_decision:sim.last_decision + 1]


def test_every_training_day_is_visited_about_equally_the_most_recent_included():
    """The review's reproduction: 560 decision days, horizon 252 (there, 40,000 states;
    here more, for a tighter estimate). The 126 most recent days got 10.7% of the visits
    instead of their 22.5%."""
    visits = _visits(_window_sim(560), horizon=252, states=256_000)
    share = visits / visits.sum()
    assert share[-126:].sum() == pytest.approx(126 / 560, rel=0.1)
    assert share[:126].sum() == pytest.approx(126 / 560, rel=0.1)
    assert share[-20:].sum() == pytest.approx(20 / 560, rel=0.25)
    assert visits[-1] > 0 and visits[0] > 0


def test_a_horizon_as_long_as_the_window_still_starts_episodes_everywhere():
    """With horizon >= the window every episode used to start on its first day and walk
    the same path: states from one path only."""
    sim = _window_sim(200)
    episodes = Episodes(sim, Reward(), 256, horizon=400, random_start=True)
    episodes.reset(np.random.default_rng(0))
    assert len(set(episodes.t.tolist())) > 50  # was 1
    visits = _visits(sim, horizon=400, states=128_000)
    share = visits / visits.sum()
    assert share[-50:].sum() == pytest.approx(50 / 200, rel=0.15)


def test_the_end_of_the_data_truncates_an_episode_it_does_not_terminate_it():
    """An investor would go on past the last day of the data: the critic bootstraps."""
    sim = tiny_sim()
    episodes = Episodes(sim, Reward(), 2, horizon=100, random_start=False)
    episodes.reset(np.random.default_rng(0), start=sim.last_decision)
    step = episodes.step(torch.full((2, 3), 1 / 3, dtype=sim.dtype))
    assert step.truncated.all() and not step.terminated.any()


def test_a_random_start_counts_the_days_before_the_data_against_the_horizon():
    """Episodes notionally started before the first decision day begin on it, with that
    many steps of their horizon already spent: so the first days are not over-visited."""
    sim = _window_sim(300)
    episodes = Episodes(sim, Reward(), 4096, horizon=100, random_start=True)
    episodes.reset(np.random.default_rng(1))
    on_first = episodes.t == sim.first_decision
    assert 0.2 < on_first.float().mean() < 0.35  # the 99 notional days before, of 399
    assert (episodes.steps[on_first] >= 0).all() and episodes.steps[on_first].max() == 99
    assert (episodes.steps[~on_first] == 0).all()


def test_episodes_on_segments_start_in_each_and_never_cross_a_gap():
    sim = _window_sim(400)
    sim = type(sim)(sim.panel, features=[{"name": "log_return"},
                                         {"name": "momentum", "window": 10}],
                    window=10, segments=[(0, 150), (260, len(sim.panel) - 1)])
    (a, b), (c, d) = sim.decision_ranges
    episodes = Episodes(sim, Reward(), 128, horizon=60, random_start=True)
    rng = np.random.default_rng(0)
    episodes.reset(rng)
    cash = torch.zeros(128, sim.n_weights, dtype=sim.dtype)
    cash[:, -1] = 1.0
    seen = np.zeros(len(sim.dates), dtype=int)
    for _ in range(300):
        day = episodes.t.numpy().copy()
        np.add.at(seen, day, 1)
        step = episodes.step(cash)
        ended = step.truncated.numpy()
        assert (ended[day == b]).all() and (ended[day == d]).all()  # a segment's end
        episodes.reset(rng, step.terminated | step.truncated)
    assert seen[:a].sum() == seen[b + 1:c].sum() == seen[d + 1:].sum() == 0
    assert seen[a:b + 1].min() > 0 and seen[c:d + 1].min() > 0
