"""Where a portfolio's risk comes from, ex ante: volatility from a shrunk covariance,
each asset's Euler contribution to volatility and to expected shortfall, concentration
and beta.

Euler allocation: for a risk measure homogeneous of degree one in the weights,
``R(w) = sum_i w_i dR/dw_i``. For volatility, ``w_i (S w)_i / sigma``. For historical
expected shortfall, ``-mean(w_i r_i)`` over the tail days (those at or below the
portfolio's 5% quantile, as ``metrics.cvar_95``). Each set of contributions adds up to
its measure exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.data import CASH
from fin_hgrpo.measures.covariance import ledoit_wolf

TAIL = 0.05  # expected shortfall at 95%, as metrics.cvar_95


def covariance(returns: pd.DataFrame) -> pd.DataFrame:
    """Ledoit-Wolf shrunk covariance of daily returns (days x assets), as min_variance
    uses: a sample covariance of many assets from a year of days is too noisy."""
    values = ledoit_wolf(returns.to_numpy(float))
    return pd.DataFrame(values, index=returns.columns, columns=returns.columns)


def volatility_contributions(weights: pd.Series, cov: pd.DataFrame,
                             periods: int) -> pd.Series:
    """Each asset's share of the annualised volatility (cash: 0); they sum to it."""
    assets = weights.drop(CASH, errors="ignore").reindex(cov.index).fillna(0.0)
    w = assets.to_numpy(float)
    marginal = cov.to_numpy(float) @ w
    sigma = float(np.sqrt(w @ marginal))
    contributions = w * marginal / sigma if sigma > 0 else np.zeros_like(w)
    return pd.Series(contributions * np.sqrt(periods), index=cov.index).reindex(weights.index,
                                                                              fill_value=0.0)


def shortfall_contributions(weights: pd.Series, scenarios: pd.DataFrame,
                            tail: float = TAIL) -> pd.Series:
    """Each asset's share of the one-day historical expected shortfall (a loss, > 0)
    over ``scenarios`` (days x assets of simple returns, held at ``weights``)."""
    assets = weights.drop(CASH, errors="ignore").reindex(scenarios.columns).fillna(0.0)
    pnl = scenarios.to_numpy(float) * assets.to_numpy(float)
    portfolio = pd.Series(pnl.sum(axis=1))
    worst = (portfolio <= portfolio.quantile(tail)).to_numpy()
    contributions = -pnl[worst].mean(axis=0)
    return pd.Series(contributions, index=scenarios.columns).reindex(weights.index,
                                                                     fill_value=0.0)


def concentration(weights: pd.Series, largest: int = 5) -> dict:
    """The largest weights, the Herfindahl index of the asset weights and the effective
    number of assets (1/N over n assets: n)."""
    assets = weights.drop(CASH, errors="ignore")
    invested = float(assets.sum())
    herfindahl = float((assets**2).sum())
    return {"largest": assets.sort_values(ascending=False).head(largest).to_dict(),
            "herfindahl": herfindahl,
            "effective_assets": invested**2 / herfindahl if herfindahl > 0 else 0.0,
            "cash": float(weights.get(CASH, 0.0))}


def beta(weights: pd.Series, scenarios: pd.DataFrame, benchmark: pd.Series) -> float:
    """The beta of today's weights, held over ``scenarios``' days, to ``benchmark``."""
    assets = weights.drop(CASH, errors="ignore").reindex(scenarios.columns).fillna(0.0)
    portfolio = scenarios @ assets
    both = pd.concat([portfolio, benchmark], axis=1, join="inner").dropna()
    variance = both.iloc[:, 1].var()
    return float(both.cov().iloc[0, 1] / variance) if variance > 0 else float("nan")
