"""Harm against a baseline: how badly, and how often, a strategy fell behind it.

An interval on the whole test's Sharpe difference can hide years of losing: these say
what a holder would have lived through. ``worst_rolling_shortfall`` is the worst
Sharpe difference over any 3 years of consecutive test days (756 daily bars); ``share_beaten``
the share of test folds (years, in the main job) in which the strategy's Sharpe was the
higher; the share of an agent's seeds below the baseline's Sharpe is counted per
strategy (``walkforward.summary``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.measures.performance import PERIODS, CashRate, rolling_sharpe

YEARS = 3  # the rolling window of the worst shortfall


def worst_rolling_shortfall(returns: pd.Series, baseline: pd.Series, *,
                            window: int | None = None, rf: CashRate = 0.0,
                            periods: int = PERIODS) -> float:
    """The lowest annualised Sharpe of ``returns`` less that of ``baseline`` over any
    ``window`` consecutive bars both hold (default: 3 years of ``periods``; negative:
    a shortfall); NaN on fewer bars."""
    window = window or YEARS * periods
    both = pd.concat([returns, baseline], axis=1).dropna()
    if len(both) < window:
        return float("nan")
    sharpes = rolling_sharpe(both, window, rf=rf, periods=periods)
    gap = (sharpes.iloc[:, 0] - sharpes.iloc[:, 1]).replace([np.inf, -np.inf], np.nan)
    return float(gap.min()) if gap.notna().any() else float("nan")


def share_beaten(sharpes: pd.Series, baseline: pd.Series) -> float:
    """The share of folds (their Sharpe ratios, indexed by fold) in which ``sharpes``
    exceeds ``baseline``'s, over the folds both have; NaN when none."""
    both = pd.concat([sharpes, baseline], axis=1).dropna()
    if both.empty:
        return float("nan")
    return float((both.iloc[:, 0] > both.iloc[:, 1]).mean())
