"""Bid-ask spreads estimated from daily open, high, low and close prices.

Ardia, Guidotti and Kroencke's EDGE estimator (JFE 2024; the ``bidask`` package, by
its authors) reads a ticker's trailing window of OHLC bars and estimates its
effective spread; a trade then pays half of it. The window ends on the decision day
(its close is known when the trade is made), so the estimate is causal.

Open, high and low are put on the adjusted close's scale first (times adj_close /
close that day) so that a split or dividend is not read as a spread.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from bidask import edge_rolling

from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.errors import DataError

OHLC = ("open", "high", "low")


def edge_half_spreads(panel: MarketPanel, days: int) -> pd.DataFrame:
    """Dates x tickers: half of each ticker's EDGE spread over the ``days`` bars to
    each date, a share of the price (0.0005 is 5 bps). Before a ticker's first
    estimate it is the day's median over the tickers that have one (0 while none has)."""
    missing = [name for name in OHLC if name not in panel.fields]
    if missing:
        raise DataError(f"{panel.source}: an estimated spread needs open, high, low and "
                        f"close; this panel has no {', '.join(missing)} (it has "
                        f"{', '.join(panel.fields)})")
    close = panel.prices
    # the adjusted close's scale: a split or dividend between two bars is not a spread
    adjusted = {name: panel.field(name) for name in OHLC}
    if "close" in panel.fields:
        scale = close / panel.field("close")
        adjusted = {name: bars * scale for name, bars in adjusted.items()}
    spreads = {}
    for ticker in panel.tickers:
        bars = pd.DataFrame({name: adjusted[name][ticker] for name in OHLC}
                            ).assign(close=close[ticker])
        listed = bars.dropna()
        if len(listed) and not (listed["high"] > listed["low"]).any():
            raise DataError(f"{panel.source}: ticker {ticker} has no day with a high above "
                            "its low: its open, high and low look like copies of the close")
        with warnings.catch_warnings():  # bidask renames with pandas' deprecated inplace=
            warnings.filterwarnings("ignore", message="The inplace keyword")
            spreads[ticker] = edge_rolling(bars, window=days, min_periods=min(days, 5))
    half = pd.DataFrame(spreads, index=panel.dates).ffill() / 2
    median = half.median(axis=1).fillna(0.0).to_numpy()[:, None]
    return pd.DataFrame(np.where(half.isna(), median, half), index=half.index,
                        columns=half.columns)
