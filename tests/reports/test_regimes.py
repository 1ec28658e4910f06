"""Market regimes: causal labels, and differences against the baseline per regime."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.measures.inference import sharpe_difference
from fin_hgrpo.reports.regimes import market_regimes, regime_differences


def _market(seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    drift = np.r_[np.full(300, 0.002), np.full(300, -0.002), np.zeros(300)]
    return pd.Series(drift + rng.normal(0, 0.01, 900),
                     index=pd.bdate_range("2015-01-01", periods=900))


def test_rising_falling_and_flat_markets_are_labelled_after_their_window():
    labels = market_regimes(_market(), window=126)
    assert labels.iloc[:126].isna().all()  # no window behind them yet
    assert (labels.iloc[150:300] == "bull").mean() > 0.9
    assert (labels.iloc[450:600] == "bear").mean() > 0.9


def test_a_driftless_market_is_bull_sideways_and_bear_about_a_third_of_the_time():
    noise = pd.Series(np.random.default_rng(3).normal(0, 0.01, 30_000))
    shares = market_regimes(noise).value_counts(normalize=True)  # z about N(0, 1)
    assert shares.to_dict() == pytest.approx({"bull": 0.31, "sideways": 0.38, "bear": 0.31},
                                             abs=0.04)


def test_a_days_label_reads_only_the_bars_before_it():
    market = _market()
    labels = market_regimes(market)
    changed = market.copy()
    changed.iloc[400:] -= 0.01  # a falling market from day 400 on
    again = market_regimes(changed)
    pd.testing.assert_series_equal(again.iloc[:401], labels.iloc[:401])  # day 400 too
    assert (again.iloc[450:] == "bear").mean() > 0.95


def test_each_regimes_difference_is_the_interval_on_its_days_alone():
    market = _market(1)
    labels = market_regimes(market)
    rng = np.random.default_rng(2)
    returns = pd.DataFrame({"baseline": market,
                            "same": market,
                            "a_seed0": market + rng.normal(2e-4, 2e-3, 900),
                            "a_seed1": market + rng.normal(1e-4, 2e-3, 900)})
    table = regime_differences(returns, {"same": ["same"], "a": ["a_seed0", "a_seed1"]},
                               "baseline", labels).set_index(["strategy", "regime"])
    assert (table.loc["same", "difference"] == 0.0).all()
    bear = labels.index[labels == "bear"]
    expected = sharpe_difference(returns.loc[bear, ["a_seed0", "a_seed1"]],
                                 returns.loc[bear, "baseline"])
    row = table.loc[("a", "bear")]
    assert row["days"] == len(bear)
    assert (row["difference"], row["low"], row["high"]) == pytest.approx(
        (expected.difference, expected.low, expected.high))
    assert table["days"].groupby("strategy").sum().tolist() == [labels.notna().sum()] * 2
