"""Harm against a baseline: the worst 3 years and the share of folds beaten, checked
against sums done by hand."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.measures.harm import share_beaten, worst_rolling_shortfall
from fin_hgrpo.measures.performance import sharpe


def test_the_worst_window_is_the_lowest_sharpe_difference_over_any_window():
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2000-01-03", periods=60)
    baseline = pd.Series(rng.normal(0.0005, 0.01, 60), days)
    returns = baseline + pd.Series(np.r_[np.zeros(30), np.full(30, -0.002)], days) \
        + pd.Series(rng.normal(0, 0.001, 60), days)
    by_hand = min(sharpe(returns.iloc[i:i + 20]) - sharpe(baseline.iloc[i:i + 20])
                  for i in range(41))
    assert worst_rolling_shortfall(returns, baseline, window=20) == pytest.approx(by_hand)
    assert by_hand < 0
    # the default window is 3 years of the bars: too few days give no figure
    assert np.isnan(worst_rolling_shortfall(returns, baseline))


def test_a_strategy_equal_to_its_baseline_falls_short_by_nothing():
    days = pd.bdate_range("2000-01-03", periods=800)
    base = pd.Series(np.random.default_rng(1).normal(0.0003, 0.01, 800), days)
    assert worst_rolling_shortfall(base, base) == pytest.approx(0.0)


def test_the_share_of_folds_beaten_counts_strict_wins_over_shared_folds():
    mine = pd.Series([1.0, 0.5, np.nan, 0.2])
    base = pd.Series([0.8, 0.5, 0.1, 0.3])
    assert share_beaten(mine, base) == pytest.approx(1 / 3)
    assert np.isnan(share_beaten(pd.Series([np.nan]), pd.Series([1.0])))
