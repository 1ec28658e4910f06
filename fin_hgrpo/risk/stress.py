"""What a crisis would do: today's weights held through named historical windows, and
hypothetical shocks.

A window is held from the last close before it, untraded (the weights drift with
prices), to its last day: the loss is the wealth at its end less one, the worst day is
the worst daily return on the way, and the drawdown is the deepest fall from a peak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.data import CASH
from fin_hgrpo.measures.performance import max_drawdown

COLUMNS = ["window", "portfolio", "covered", "from", "to", "days", "loss", "worst_day",
           "max_drawdown", "why"]
WINDOWS = {  # name: (first day, last day)
    "2008-09 .. 2009-03 (financial crisis)": ("2008-09-01", "2009-03-31"),
    "2020-02-19 .. 2020-03-23 (COVID crash)": ("2020-02-19", "2020-03-23"),
    "2022 (rates and inflation)": ("2022-01-01", "2022-12-31"),
}


def held_through(weights: pd.Series, prices: pd.DataFrame, first: object,
                 last: object) -> dict | None:
    """Loss, worst day and drawdown of ``weights`` held from the close before ``first``
    to ``last``; None if the data does not cover the window for every asset held."""
    dates = prices.index
    start = dates.searchsorted(pd.Timestamp(first)) - 1
    end = dates.searchsorted(pd.Timestamp(last), side="right") - 1
    if start < 0 or end <= start:
        return None
    assets = weights.drop(CASH, errors="ignore")
    held = assets[assets > 0].index
    window = prices.iloc[start:end + 1][held]
    if window.isna().any().any():
        return None
    growth = window / window.iloc[0]
    wealth = growth.to_numpy() @ assets[held].to_numpy() + float(weights.get(CASH, 0.0))
    daily = pd.Series(wealth, index=window.index).pct_change().dropna()
    return {"from": str(dates[start].date()), "to": str(dates[end].date()),
            "days": int(end - start), "loss": float(wealth[-1] - 1.0),
            "worst_day": float(daily.min()), "max_drawdown": max_drawdown(daily)}


def historical_stress(weights: pd.Series, prices: pd.DataFrame,
                      comparisons: dict[str, pd.Series],
                      windows: dict[str, tuple[str, str]] | None = None) -> pd.DataFrame:
    """One row per window and portfolio (the weights, then each comparison, such as
    1/N and the benchmark); windows outside the data are listed as not covered, with
    why (every column is there, whatever is covered)."""
    rows = []
    for name, (first, last) in (windows or WINDOWS).items():
        for label, held in {"portfolio": weights, **comparisons}.items():
            outcome = held_through(held, prices, first, last)
            rows.append({"window": name, "portfolio": label, "covered": outcome is not None,
                         **(outcome or {"why": _uncovered(held, prices, first, last)})})
    return pd.DataFrame(rows, columns=COLUMNS)


def _uncovered(weights: pd.Series, prices: pd.DataFrame, first: object, last: object) -> str:
    """Why a window is not covered: outside the data, or holdings without prices."""
    inside = prices.loc[pd.Timestamp(first):pd.Timestamp(last)]
    if inside.empty or prices.index[0] >= pd.Timestamp(first):
        return f"the data covers {prices.index[0].date()} .. {prices.index[-1].date()}"
    held = [t for t, w in weights.drop(CASH, errors="ignore").items() if w > 0]
    missing = [t for t in held if inside[t].isna().any()
               or pd.isna(prices[t].loc[:pd.Timestamp(first)].iloc[-1:]).all()]
    return f"no prices then for {', '.join(missing)}"


def hypothetical_shocks(weights: pd.Series, drop_all: float = 0.10,
                        drop_largest: float = 0.30) -> pd.DataFrame:
    """Instant losses: every asset down ``drop_all``; the largest holding down
    ``drop_largest``."""
    assets = weights.drop(CASH, errors="ignore")
    largest = assets.idxmax()
    return pd.DataFrame([
        {"shock": f"every asset -{drop_all:.0%}", "loss": -drop_all * float(assets.sum())},
        {"shock": f"largest holding ({largest}) -{drop_largest:.0%}",
         "loss": -drop_largest * float(assets[largest])},
    ])


def equal_weights(tickers: list[str]) -> pd.Series:
    """1/N over ``tickers``, no cash: the comparison every window shows."""
    return pd.Series(np.full(len(tickers), 1.0 / len(tickers)), index=tickers)
