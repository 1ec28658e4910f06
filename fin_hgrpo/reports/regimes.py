"""Market regimes: each strategy's difference against the baseline, split by the state
the market was in.

Each day is labelled from the market's trailing ``window`` bars before it (the
benchmark's returns, else the baseline's): their log return in units of their own
volatility over the window, ``z = sum(log(1 + r)) / (std(log(1 + r)) sqrt(window))``.
Bull where z > ``threshold``, bear where z < -``threshold``, sideways between (a
driftless market, z about standard normal, is bull, sideways and bear about 31%, 38%
and 31% of its days at the default 0.5). A
day's label reads only bars that ended before it began, so it was known when the day's
positions were held (causal); the first ``window`` days of the test have no label.

Per regime, the Sharpe difference and its interval are ``inference.sharpe_difference``
on the days of that regime. The days of a regime are not contiguous, so the block
bootstrap's blocks may join the end of one spell to the start of the next: the
interval is an approximation, widest where a regime has few days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.measures.inference import MIN_DAYS, sharpe_difference
from fin_hgrpo.measures.performance import PERIODS, CashRate

REGIMES = ("bull", "sideways", "bear")
WINDOW = 126  # half a year of daily bars
THRESHOLD = 0.5


def market_regimes(market: pd.Series, window: int = WINDOW,
                   threshold: float = THRESHOLD) -> pd.Series:
    """Each day's regime (``REGIMES``; missing for the first ``window`` days) from the
    market's ``window`` bars before it."""
    logs = np.log1p(market)
    total = logs.rolling(window).sum().shift(1)
    scale = logs.rolling(window).std().shift(1) * np.sqrt(window)
    z = total / scale.where(scale > 0)
    labels = np.select([z > threshold, z < -threshold], ["bull", "bear"], "sideways")
    return pd.Series(labels, index=market.index, name="regime").where(z.notna())


def regime_differences(returns: pd.DataFrame, runs: dict[str, list[str]], baseline: str,
                       labels: pd.Series, *, rf: CashRate = 0.0,
                       periods: int = PERIODS) -> pd.DataFrame:
    """Per strategy (``runs``: its columns of ``returns``, its seeds) and regime: the
    days, the mean seed Sharpe minus the baseline's, and its interval (NaN where the
    regime has fewer than ``MIN_DAYS`` shared days)."""
    rows = []
    for strategy, columns in runs.items():
        both = pd.concat([returns[columns], returns[baseline].rename("__baseline__")],
                         axis=1).dropna()
        regime = labels.reindex(both.index)
        for name in REGIMES:
            days = both[regime == name]
            row = {"strategy": strategy, "regime": name, "days": len(days),
                   "difference": np.nan, "low": np.nan, "high": np.nan}
            if len(days) >= MIN_DAYS:
                found = sharpe_difference(days.iloc[:, :-1], days.iloc[:, -1], rf=rf,
                                          periods=periods)
                row |= {"difference": found.difference, "low": found.low,
                        "high": found.high}
            rows.append(row)
    return pd.DataFrame(rows)
