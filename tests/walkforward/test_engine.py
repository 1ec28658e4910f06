import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.algos import PPOConfig
from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.calendar import rebalance_days
from fin_hgrpo.envs import EnvSpec, PortfolioEnv, PortfolioSim
from fin_hgrpo.errors import StrategyError
from fin_hgrpo.strategies import BuyAndHold, EqualWeight, Strategy
from fin_hgrpo.strategies.rl import RLStrategy


def tiny_sim() -> PortfolioSim:
    dates = pd.bdate_range("2024-01-01", periods=5)
    prices = pd.DataFrame({"A": [100.0, 100.0, 110.0, 99.0, 99.0],
                           "B": [50.0, 50.0, 50.0, 55.0, 55.0]}, index=dates)
    return PortfolioSim(MarketPanel(prices), features=[{"name": "log_return"}], window=1,
                        normalize_features=False, cost_bps=10.0)


def test_equal_weight_by_hand():
    sim = tiny_sim()
    run = run_strategy(EqualWeight(), sim, 1, 3)
    # day 1: cash -> 50/50 costs 10 bps of 1.0 traded; A +10%, B flat
    first = 0.999 * 1.05 - 1
    # day 2: drifted to 0.55/1.05 and 0.5/1.05, back to 50/50; A -10%, B +10%
    traded = 2 * (0.55 / 1.05 - 0.5)
    second = (1 - 0.001 * traded) * 1.0 - 1
    assert run.daily["net_return"].iloc[:2].tolist() == pytest.approx([first, second], abs=1e-15)
    # one-way turnover: the entry from cash is 1; then half of what moved between A and B
    assert run.daily["turnover"].iloc[:2].tolist() == pytest.approx([1.0, traded / 2])
    assert list(run.daily.index) == list(sim.dates[2:5])  # earned at the next close
    assert list(run.weights.index) == list(sim.dates[1:4])  # decided at the close
    assert run.weights.columns.tolist() == ["A", "B", "cash"]


def test_buy_and_hold_trades_once_and_drifts():
    sim = tiny_sim()
    run = run_strategy(BuyAndHold(), sim, 1, 3)
    assert run.daily["turnover"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    held = run.weights.iloc[1]
    assert held["A"] == pytest.approx(0.55 / 1.05)
    # wealth is the value of the shares bought on day 1, less the entry cost
    assert run.wealth.iloc[-1] == pytest.approx(0.999 * (0.5 * 99 / 100 + 0.5 * 55 / 50))


def test_weekly_and_monthly_rebalance_days():
    dates = pd.bdate_range("2024-01-29", periods=8)  # Mon 29 Jan .. Wed 7 Feb
    weekly = rebalance_days(dates, "weekly")
    monthly = rebalance_days(dates, "monthly")
    assert dates[weekly].strftime("%a %d").tolist() == ["Mon 29", "Mon 05"]
    assert dates[monthly].strftime("%d %b").tolist() == ["29 Jan", "01 Feb"]
    assert rebalance_days(dates, "daily").all()


def test_between_rebalances_the_portfolio_drifts_without_trading():
    sim = tiny_sim()
    run = run_strategy(EqualWeight(), sim, 1, 3, rebalance="monthly")
    assert run.daily["turnover"].tolist() == pytest.approx([1.0, 0.0, 0.0])


class _Bad(Strategy):
    name = "bad"

    def __init__(self, weights):
        self.value = weights

    def weights(self, decision):
        return self.value


@pytest.mark.parametrize("weights, message", [
    ([0.5, 0.5], "needs 3"),
    ([0.5, np.nan, 0.5], "NaN"),
    ([0.9, 0.9, -0.8], ">= 0"),
    ([0.2, 0.2, 0.2], "sum to 1"),
])
def test_bad_weights_name_the_strategy_and_date(weights, message):
    with pytest.raises(StrategyError, match=rf"'bad' on 2024-01-02.*{message}"):
        run_strategy(_Bad(weights), tiny_sim(), 1, 3)


def test_backtest_and_env_episode_give_the_same_wealth():
    """One source of truth: a trained policy, run by the engine and stepped through the
    gymnasium env on the same days, ends with the same wealth on every date."""
    spec = EnvSpec.model_validate({
        "data": {"source": "synthetic:iid", "n_assets": 3, "n_days": 400, "seed": 1},
        "features": [{"name": "log_return"}, {"name": "volatility", "window": 10}],
        "window": 5, "costs": {"bps": 25.0},
        "constraints": {"action_transform": "normalize"},
    })
    panel = spec.load_panel()
    strategy = RLStrategy(PPOConfig(hidden=16, n_envs=8, n_steps=4, epochs=2), spec, steps=256)
    strategy.fit(panel.slice(None, panel.dates[199]))
    sim = spec.build_sim(panel)
    first, last = 200, sim.last_decision
    run = run_strategy(strategy, sim, first, last)

    env = PortfolioEnv(spec.build_sim(panel), horizon=10_000, random_start=False,
                       observation="dict")
    obs, _ = env.reset(options={"start": sim.dates[first]})
    wealth, dates = [], []
    for _ in range(first, last + 1):
        action = strategy.agent.predict(torch.as_tensor(obs["features"])[None],
                                        torch.as_tensor(obs["holdings"])[None])[0]
        obs, _, terminated, truncated, info = env.step(action.numpy())
        wealth.append(info["wealth"])
        dates.append(info["date"])
    assert truncated and not terminated  # the data ended: a truncation
    np.testing.assert_allclose(run.wealth.to_numpy(), wealth, rtol=0, atol=1e-9)
    assert list(run.wealth.index) == list(pd.DatetimeIndex(dates))


class _EditsHoldings(Strategy):
    """1/N monthly, but writes 1/N into ``decision.holdings`` first (the review's M6)."""

    name = "edits_holdings"

    def __init__(self, copy_first: bool) -> None:
        self.copy_first = copy_first

    def weights(self, decision):
        held = decision.holdings.copy() if self.copy_first else decision.holdings
        held[:-1] = 1.0 / (len(held) - 1)
        held[-1] = 0.0
        return held


def test_a_strategy_cannot_erase_its_costs_by_editing_the_decision():
    sim = tiny_sim()
    honest = run_strategy(EqualWeight(), sim, 1, 3)
    edited = run_strategy(_EditsHoldings(copy_first=True), sim, 1, 3)
    pd.testing.assert_frame_equal(edited.daily, honest.daily)
    assert edited.daily["cost"].sum() > 0
    with pytest.raises(StrategyError, match="'edits_holdings' on 2024-01-02: decision.holdings "
                                            "is read-only"):
        run_strategy(_EditsHoldings(copy_first=False), sim, 1, 3)


def test_a_run_continues_from_the_holdings_another_ended_with():
    """Two runs back to back hold, trade and earn what one run over both does: no
    liquidation and re-entry at the seam."""
    sim = tiny_sim()
    whole = run_strategy(BuyAndHold(), sim, 1, 3)
    head = run_strategy(BuyAndHold(), sim, 1, 1)
    tail = run_strategy(BuyAndHold(), sim, 2, 3, start=head.end)
    pd.testing.assert_frame_equal(pd.concat([head.daily, tail.daily]), whole.daily)
    assert tail.daily["turnover"].tolist() == [0.0, 0.0]  # bought once per backtest
    # across a gap the holdings drift with prices, untraded
    gap = run_strategy(BuyAndHold(), sim, 3, 3, start=head.end)
    np.testing.assert_allclose(gap.weights.iloc[0], whole.weights.iloc[2], atol=1e-15)
    with pytest.raises(ValueError, match="cannot start a run"):
        run_strategy(BuyAndHold(), sim, 1, 1, start=tail.end)


def test_no_trade_band_skips_small_trades():
    sim = tiny_sim()
    # after day 1, drift moves A/B to 0.524/0.476: a 2.4% trade back to 1/N
    banded = run_strategy(EqualWeight(), sim, 1, 3, min_trade=0.03)
    plain = run_strategy(EqualWeight(), sim, 1, 3)
    assert banded.daily["turnover"].iloc[0] == pytest.approx(1.0)  # the entry is large
    assert banded.daily["turnover"].iloc[1] == 0.0 < plain.daily["turnover"].iloc[1]
    np.testing.assert_allclose(banded.weights.iloc[1, :2], [0.55 / 1.05, 0.5 / 1.05])


def test_rebalance_every_n_bars():
    dates = pd.bdate_range("2024-01-01", periods=7)
    assert np.flatnonzero(rebalance_days(dates, 3)).tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="rebalance must be"):
        rebalance_days(dates, 0)
