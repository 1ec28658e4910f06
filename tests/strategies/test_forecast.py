"""Predict, then optimise: forecasts learned inside the training window find a
planted predictability, and the cost-aware rule trades only where a forecast pays."""

import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.measures import performance
from fin_hgrpo.strategies import Decision, EqualWeight
from fin_hgrpo.strategies.forecast import ForecastStrategy

FEATURES = [{"name": "log_return"}]
ENV = {"features": FEATURES, "window": 2, "costs": {"bps": 1.0}}


def _predictable(days: int = 1500, n: int = 6, phi: float = 0.3, seed: int = 0):
    """Each asset's daily log return follows its own AR(1): yesterday's return
    predicts today's, the same way for every asset."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.01, (days, n))
    returns = np.zeros((days, n))
    for t in range(1, days):
        returns[t] = phi * returns[t - 1] + shocks[t]
    prices = 100 * np.exp(np.cumsum(returns, axis=0))
    return pd.DataFrame(prices, index=pd.bdate_range("2015-01-01", periods=days),
                        columns=[f"X{i}" for i in range(n)])


@pytest.mark.slow  # trains to skill
@pytest.mark.parametrize("model", ["ridge", "gbm"])
def test_the_forecasts_find_a_planted_predictability_and_beat_one_over_n(model):
    prices = _predictable()
    env = EnvSpec.model_validate(ENV)
    strategy = ForecastStrategy(env, model, horizon=1, risk_aversion=1.0, lookback=60)
    strategy.fit(MarketPanel(prices.iloc[:1000]))
    sim = env.build_sim(MarketPanel(prices))
    # the forecasts rank tomorrow's returns: a positive information coefficient
    ranks = []
    for t in range(1000, 1400):
        decision = Decision(sim.dates[t], prices.iloc[:t + 1], np.r_[np.zeros(6), 1.0],
                            lambda t=t: sim.observe(torch.tensor([t])))
        ahead = prices.iloc[t + 1] / prices.iloc[t] - 1
        ranks.append(np.corrcoef(strategy.forecasts(decision), ahead)[0, 1])
    assert np.mean(ranks) > 0.15
    held = run_strategy(strategy, sim, 1000, 1490, "daily").daily["net_return"]
    equal = run_strategy(EqualWeight(), sim, 1000, 1490, "daily").daily["net_return"]
    assert performance.sharpe(held) > performance.sharpe(equal) + 0.5


def test_without_predictability_the_cost_aware_rule_hardly_trades():
    rng = np.random.default_rng(1)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (800, 4)), axis=0)),
                          index=pd.bdate_range("2015-01-01", periods=800),
                          columns=list("ABCD"))
    env = EnvSpec.model_validate(ENV | {"costs": {"bps": 50.0}})
    strategy = ForecastStrategy(env, "ridge", horizon=5, lookback=120)
    strategy.fit(MarketPanel(prices.iloc[:500]))
    sim = env.build_sim(MarketPanel(prices))
    turnover = run_strategy(strategy, sim, 500, 790, "daily").daily["turnover"]
    assert turnover.iloc[1:].mean() * 252 < 1.0  # under one turn a year after entering


def test_training_rows_never_read_past_the_training_window():
    prices = _predictable(600)
    strategy = ForecastStrategy(EnvSpec.model_validate(ENV), "ridge", horizon=5)
    features, targets = strategy.training_rows(MarketPanel(prices.iloc[:400]))
    changed = prices.copy()
    changed.iloc[400:] *= 3.0
    again = strategy.training_rows(MarketPanel(changed.iloc[:400]))
    np.testing.assert_array_equal(features, again[0])
    np.testing.assert_array_equal(targets, again[1])
    # the last target is the return over the window's last five bars, demeaned
    last = prices.iloc[399] / prices.iloc[394] - 1
    assert targets[-1] == pytest.approx((last - last.mean()).iloc[-1])
