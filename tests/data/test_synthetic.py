import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import growth_optimal, synthetic_market
from fin_hgrpo.errors import DataError


@pytest.mark.parametrize("kind", ["iid", "regime", "signal"])
def test_same_seed_same_market_and_different_seed_different(kind):
    a = synthetic_market(kind, n_days=300, seed=3)
    b = synthetic_market(kind, n_days=300, seed=3)
    c = synthetic_market(kind, n_days=300, seed=4)
    assert a.panel.equals(b.panel) and not a.panel.equals(c.panel)
    assert a.oracle_weights.equals(b.oracle_weights)


@pytest.mark.parametrize("kind", ["iid", "regime", "signal"])
def test_oracle_weights_are_on_the_simplex_and_beat_everything_else(kind):
    market = synthetic_market(kind, n_days=400, seed=1)
    weights = market.oracle_weights
    assert (weights.to_numpy() >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert market.skill(weights) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = pd.DataFrame(rng.dirichlet(np.ones(len(market.columns)), len(weights)),
                             index=weights.index, columns=market.columns)
        assert (market.expected_growth(other) <= market.oracle_growth + 1e-12).all()


def test_trading_costs_by_hand():
    market = synthetic_market("iid", n_assets=2, n_days=50, seed=4)
    dates = market.panel.dates[10:13]
    weights = pd.DataFrame([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]],
                           index=dates, columns=market.columns)
    prices = market.panel.prices.loc[dates].to_numpy()
    drifted = 0.5 * prices[1] / prices[0]
    drifted /= drifted.sum()
    second = np.abs(np.array([0.5, 0.5]) - drifted).sum()
    third_held = 0.5 * prices[2] / prices[1]
    third_held /= third_held.sum()
    third = np.abs(np.array([1.0, 0.0]) - third_held).sum()
    np.testing.assert_allclose(market.trading_costs(weights, 20.0),
                               np.array([1.0, second, third]) * 20e-4)


@pytest.mark.parametrize("kind", ["iid", "signal"])
def test_skill_net_of_costs_charges_churn_and_keeps_its_bounds(kind):
    """The diagnosis' bug 4: skill was gross of costs, so a path that churns scored as
    well as one that holds. Net, 1/N stays at 0 and the oracle at 1, and a path that
    flips between two portfolios every day loses skill."""
    market = synthetic_market(kind, n_days=400, seed=1)
    oracle = market.oracle_weights.iloc[100:300]
    assert market.skill(oracle, cost_bps=10.0) == pytest.approx(1.0)
    equal = pd.DataFrame(np.tile(np.r_[np.full(5, 0.2), 0.0], (len(oracle), 1)),
                         index=oracle.index, columns=market.columns)
    assert market.skill(equal, cost_bps=10.0) == pytest.approx(0.0, abs=1e-12)
    churn = oracle.copy()
    churn.iloc[::2] = equal.iloc[::2].to_numpy()
    assert market.skill(churn, cost_bps=10.0) < market.skill(churn) - 0.1


def test_growth_optimal_meets_the_kuhn_tucker_conditions():
    """Log-optimality certificate: E[X_i / (w.X)] = 1 where w_i > 0, and <= 1 where w_i = 0."""
    for kind in ("iid", "regime", "signal"):
        market = synthetic_market(kind, n_days=50, seed=2)
        for probs in market.mixture:
            weights, growth = growth_optimal(market._draws, probs)
            marginal = sum(p * (d / (d @ weights)[:, None]).mean(axis=0)
                           for p, d in zip(probs, market._draws, strict=True))
            held = weights > 1e-6
            np.testing.assert_allclose(marginal[held], 1.0, atol=1e-6)
            assert (marginal[~held] <= 1.0 + 1e-6).all()
            direct = sum(p * np.log(d @ weights).mean()
                         for p, d in zip(probs, market._draws, strict=True))
            assert growth == pytest.approx(direct, rel=1e-12)


def test_growth_optimal_matches_a_grid_search_on_two_assets():
    rng = np.random.default_rng(0)
    draws = np.column_stack([np.exp(rng.normal(0.0008, 0.02, 20000)),
                             np.exp(rng.normal(0.0002, 0.01, 20000))])
    weights, _ = growth_optimal([draws], np.ones(1))
    best = 0.5
    for lo, hi in ((0.0, 1.0), (-0.002, 0.002)):  # coarse, then fine around the best
        grid = np.clip(best * (lo != 0.0) + np.linspace(lo, hi, 1001), 0.0, 1.0)
        growth = np.log(np.outer(draws[:, 0], grid) + np.outer(draws[:, 1], 1 - grid))
        best = grid[np.argmax(growth.mean(axis=0))]
    assert weights[0] == pytest.approx(best, abs=1e-5)


def test_equal_weight_has_zero_skill_and_growth_is_the_expectation():
    market = synthetic_market("iid", n_days=200, seed=5)
    n = market.panel.n_assets
    equal = pd.DataFrame([[1 / n] * n + [0.0]] * 200, index=market.panel.dates,
                         columns=market.columns)
    assert market.skill(equal) == pytest.approx(0.0, abs=1e-12)
    # the quadrature's expectation agrees with a long simulated path of the same market
    long = synthetic_market("iid", n_days=100_000, seed=5)
    realised = np.log(long.panel.returns().to_numpy() @ np.full(n, 1 / n) + 1).mean()
    assert realised == pytest.approx(market.equal_weight_growth.iloc[0], abs=3e-5)


def test_signal_market_publishes_its_signal_and_regime_market_hides_its_regime():
    signal = synthetic_market("signal", n_days=100)
    assert list(signal.panel.signals.columns) == ["signal"]
    assert signal.states.nunique() > 1
    regime = synthetic_market("regime", n_days=1000)
    assert regime.panel.signals is None and set(regime.states) == {0, 1}


def test_bad_arguments():
    with pytest.raises(DataError, match="unknown kind 'garch'"):
        synthetic_market("garch")
    market = synthetic_market("iid", n_days=10)
    with pytest.raises(DataError, match="weights must be on the simplex"):
        market.expected_growth(market.oracle_weights * 2)
