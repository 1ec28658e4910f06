import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import PortfolioSim, project_capped_simplex, project_simplex
from fin_hgrpo.envs.sim import apply_no_trade_band
from fin_hgrpo.errors import DataError
from tests.conftest import prices_and_perturbed
from tests.envs.conftest import TINY_FEATURES, tiny_sim

T1 = torch.tensor([1])


def _score(sim, w_prev, *targets):
    return sim.score(T1, torch.tensor([w_prev], dtype=torch.float64),
                     torch.tensor([targets], dtype=torch.float64))


def test_two_asset_rebalance_by_hand(sim):
    """From (0.2, 0.3, cash 0.5) to (0.5, 0.25, 0.25); A +10%, B flat; 10 bps."""
    out = _score(sim, [0.2, 0.3, 0.5], [0.5, 0.25, 0.25])
    # one-way: 0.3 bought (A), 0.3 sold (0.05 of B, 0.25 of cash); costs on 0.35 traded
    assert out.turnover.item() == pytest.approx(0.3, abs=1e-15)
    assert out.cost.item() == pytest.approx(0.00035, abs=1e-15)
    assert out.net_return.item() == pytest.approx(0.9996500 * 1.05 - 1, abs=1e-15)
    assert out.log_return.item() == pytest.approx(np.log(0.99965 * 1.05), abs=1e-15)
    np.testing.assert_allclose(out.holdings[0, 0], [0.55 / 1.05, 0.25 / 1.05, 0.25 / 1.05],
                               atol=1e-15)


def test_costs_and_cash_that_change_by_day_are_charged_and_earned_on_their_day():
    days = len(tiny_sim().panel)
    costs = np.column_stack([np.arange(days) * 10.0, np.full(days, 30.0)])  # bps
    cash = np.arange(1, days) * 1e-4
    sim = tiny_sim(cost_bps=costs, cash_rate=cash)
    for t in (1, 2, 3):
        out = sim.score(torch.tensor([t]), torch.tensor([[0.1, 0.3, 0.6]], dtype=torch.float64),
                        torch.tensor([[[0.1, 0.0, 0.9]]], dtype=torch.float64))
        assert out.cost.item() == pytest.approx(0.3 * 30e-4, abs=1e-15)  # B alone trades
        assert sim.relatives[t, -1].item() == 1 + cash[t]
        out = sim.score(torch.tensor([t]), torch.tensor([[0.1, 0.3, 0.6]], dtype=torch.float64),
                        torch.tensor([[[0.5, 0.3, 0.2]]], dtype=torch.float64))
        assert out.cost.item() == pytest.approx(0.4 * t * 10e-4, abs=1e-15)


def test_per_asset_costs_minimum_fee_and_cash_rate():
    sim = tiny_sim(cost_bps=[10.0, 30.0], min_cost_bps=5.0, cash_rate=0.0001)
    out = _score(sim, [0.1, 0.3, 0.6], [0.7, 0.3, 0.0])
    # A trades 0.6 at 10 bps = 6 bps, above the minimum; B does not trade: no fee at all
    assert out.cost.item() == pytest.approx(0.0006, abs=1e-15)
    out = _score(sim, [0.2, 0.3, 0.5], [0.201, 0.3, 0.499])
    assert out.cost.item() == pytest.approx(0.0005, abs=1e-15)  # the minimum fee binds
    # a difference of rounding size is not a trade: no minimum fee on it
    out = _score(sim, [0.2, 0.3, 0.5], [0.2 + 1e-9, 0.3, 0.5 - 1e-9])
    assert out.cost.item() == pytest.approx(1e-9 * 0.001, abs=1e-18)
    cash = _score(sim, [0.0, 0.0, 1.0], [0.0, 0.0, 1.0])
    assert cash.net_return.item() == pytest.approx(0.0001, abs=1e-15)


def test_holding_still_drifts_and_costs_nothing(sim):
    out = _score(sim, [0.5, 0.5, 0.0], [0.5, 0.5, 0.0])
    assert out.cost.item() == 0.0
    np.testing.assert_allclose(out.holdings[0, 0], [0.55 / 1.05, 0.5 / 1.05, 0.0])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**16), uniform=st.booleans())
def test_scoring_n_candidates_equals_n_single_calls(n, seed, uniform):
    rng = np.random.default_rng(seed)
    sim = tiny_sim(cost_bps=10.0 if uniform else [10.0, 25.0],
                   min_cost_bps=0.0 if uniform else 2.0)
    t = torch.tensor([1, 2, 1])
    w_prev = torch.tensor(rng.dirichlet(np.ones(3), 3))
    candidates = torch.tensor(rng.dirichlet(np.ones(3), (3, n)))
    together = sim.score(t, w_prev, candidates)
    for i in range(n):
        alone = sim.score(t, w_prev, candidates[:, i : i + 1])
        for a, b in zip(together, alone, strict=True):
            torch.testing.assert_close(a[:, i : i + 1], b, rtol=0, atol=1e-14)


@settings(max_examples=60, deadline=None)
@given(actions=arrays(np.float64, (4, 6), elements=st.floats(-1e6, 1e6)),
       cap=st.sampled_from([1.0, 0.5, 0.3, 0.21]), cash=st.booleans(),
       transform=st.sampled_from(["softmax", "normalize"]))
@example(actions=np.full((4, 6), 2.2250738585072014e-309), cap=1.0, cash=True,
         transform="normalize")  # subnormal actions: their plain sum underflows
def test_weights_are_always_on_the_capped_simplex(actions, cap, cash, transform):
    dates = pd.bdate_range("2024-01-01", periods=4)
    panel = MarketPanel(pd.DataFrame(np.ones((4, 5)) * 10, index=dates,
                                     columns=list("ABCDE")))
    sim = PortfolioSim(panel, features=TINY_FEATURES, window=1, normalize_features=False,
                       max_weight=cap, allow_cash=cash, action_transform=transform)
    w = sim.to_weights(torch.tensor(actions))
    assert torch.all(w >= 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, dtype=w.dtype), rtol=0, atol=1e-12)
    assert torch.all(w[:, :5] <= cap + 1e-12)
    if not cash:
        assert torch.all(w[:, 5] == 0)


def test_capped_projection_is_the_euclidean_projection():
    values = torch.tensor([[0.7, 0.2, 0.1, 0.0]], dtype=torch.float64)
    caps = torch.tensor([0.4, 0.4, 0.4, 1.0], dtype=torch.float64)
    w = project_capped_simplex(values, caps)
    # excess 0.3 above the cap is spread equally over the uncapped: tau = -0.1
    torch.testing.assert_close(w, torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64))


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.float64, (3, 5), elements=st.floats(-3.0, 3.0)))
def test_simplex_projection_is_exact_and_leaves_the_simplex_alone(values):
    v = torch.as_tensor(values)
    w = project_simplex(v)
    assert (w >= 0).all() and torch.allclose(w.sum(-1), torch.ones(3, dtype=torch.float64))
    # the same point the bisection finds for caps of one
    torch.testing.assert_close(w, project_capped_simplex(v, torch.ones(5, dtype=v.dtype)),
                               atol=1e-9, rtol=0)
    torch.testing.assert_close(project_simplex(w), w, atol=1e-12, rtol=0)


def test_simplex_projection_by_hand():
    # spreading the excess 0.1 over three entries would push the third below zero, so
    # tau = (0.6 + 0.5 - 1) / 2 = 0.05 is taken from the two largest
    w = project_simplex(torch.tensor([[0.6, 0.5, 0.0, -0.2]], dtype=torch.float64))
    torch.testing.assert_close(w, torch.tensor([[0.55, 0.45, 0.0, 0.0]], dtype=torch.float64))


def test_bad_actions_and_settings_are_refused(sim):
    with pytest.raises(DataError, match="NaN or inf"):
        sim.to_weights(torch.tensor([[0.1, float("nan"), 0.3]]))
    with pytest.raises(DataError, match="actions need 3 values"):
        sim.to_weights(torch.tensor([[0.1, 0.3]]))
    with pytest.raises(DataError, match="cannot hold a fully invested portfolio"):
        tiny_sim(max_weight=0.4, allow_cash=False)
    with pytest.raises(DataError, match="one value, one per asset"):
        tiny_sim(cost_bps=[1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="cash_rate needs one finite value or one per bar"):
        tiny_sim(cash_rate=[0.0, 0.0001])
    with pytest.raises(DataError, match="too few"):
        tiny_sim(window=10)


@settings(max_examples=20, deadline=None)
@given(t=st.integers(60, 118), seed=st.integers(0, 2**16))
def test_observations_up_to_t_ignore_every_later_price(t, seed):
    prices, changed = prices_and_perturbed(120, t, seed)
    days = torch.arange(40, t + 1)
    before = PortfolioSim(MarketPanel(prices), window=5).observe(days)
    after = PortfolioSim(MarketPanel(changed), window=5).observe(days)
    torch.testing.assert_close(before, after, rtol=0, atol=0)


def test_float32_for_training_and_float64_for_backtests(sim):
    fast = tiny_sim(dtype=torch.float32)
    assert fast.relatives.dtype == torch.float32 and sim.relatives.dtype == torch.float64


def test_turnover_is_one_way():
    sim = tiny_sim()
    switch = _score(sim, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    entry = _score(sim, [0.0, 0.0, 1.0], [0.5, 0.5, 0.0])
    assert switch.turnover.item() == pytest.approx(1.0)  # all of A sold, all of B bought
    assert switch.cost.item() == pytest.approx(0.002)  # both legs pay 10 bps
    assert entry.turnover.item() == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), band=st.sampled_from([0.0, 0.01, 0.05, 0.2]))
def test_no_trade_band_keeps_small_trades_and_stays_on_the_simplex(seed, band):
    rng = np.random.default_rng(seed)
    held = torch.tensor(rng.dirichlet(np.ones(5), 4))
    target = torch.tensor(rng.dirichlet(np.ones(5) * 0.5, 4))
    banded = apply_no_trade_band(held, target, band)
    assert torch.all(banded >= -1e-12)
    torch.testing.assert_close(banded.sum(-1), torch.ones(4, dtype=torch.float64))
    small = (target[:, :4] - held[:, :4]).abs() < band
    torch.testing.assert_close(banded[:, :4][small], held[:, :4][small])
    if band == 0:
        torch.testing.assert_close(banded, target)


def test_segments_compute_features_from_their_own_prices_and_nothing_between():
    """A training set of two stretches: each stretch's features are those of its prices
    alone (what a sim over that stretch computes, before scaling), the gap has none, and
    decisions start once each stretch's own history fills the features."""
    prices, _ = prices_and_perturbed(200, 199, 0)
    panel = MarketPanel(prices)
    sim = PortfolioSim(panel, window=5, segments=[(0, 79), (120, 199)],
                       normalize_features=False)
    alone = PortfolioSim(panel.slice(panel.dates[120], panel.dates[199]), window=5,
                         normalize_features=False)
    torch.testing.assert_close(sim.features[120:, :, :], alone.features, rtol=0, atol=0)
    assert (sim.features[80:120] == 0).all()
    warmup = alone.first_decision
    assert sim.decision_ranges == [(warmup, 78), (120 + warmup, 198)]
    assert sim.segment_stop[warmup].item() == 78 and sim.segment_stop[100].item() == -1


def test_segment_scaling_is_fitted_on_training_rows_only():
    """Every price outside the segments may change: the scaled features of the
    training rows stay bit-identical (the pooled z-score fits on training rows)."""
    prices, _ = prices_and_perturbed(200, 199, 0)
    changed = prices.copy()
    changed.iloc[80:120] *= np.random.default_rng(1).uniform(0.5, 2.0, (40, prices.shape[1]))
    spans = [(0, 79), (120, 199)]
    before = PortfolioSim(MarketPanel(prices), window=5, segments=spans).features
    after = PortfolioSim(MarketPanel(changed), window=5, segments=spans).features
    torch.testing.assert_close(before, after, rtol=0, atol=0)
    whole = [PortfolioSim(MarketPanel(p), window=5).features[120:] for p in (prices, changed)]
    assert not torch.equal(*whole)  # without segments the same change leaks in


def test_segments_that_overlap_or_leave_the_panel_are_refused():
    prices, _ = prices_and_perturbed(100, 99, 0)
    for spans in ([(0, 50), (50, 99)], [(0, 120)]):
        with pytest.raises(DataError, match="disjoint day ranges"):
            PortfolioSim(MarketPanel(prices), window=5, segments=spans)
