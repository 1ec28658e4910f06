"""Classical allocation math: weights from prices, with no strategy or agent around it.

Weights have the assets then cash. The classical strategies (``strategies.baselines``)
and the base portfolios a residual agent tilts (``algos.bases``) both allocate here, so
an agent tilts at a decision exactly the portfolio the strategy of the same name holds.
Covariances are Ledoit-Wolf shrunk (sample covariances of 19 assets from a year of days
are too noisy to invert). The optimisers are skfolio's (minimum variance and maximum
Sharpe by ``MeanRisk``, inverse volatility, hierarchical risk parity, equal risk
contribution by ``RiskBudgeting``), each over the same Ledoit-Wolf prior; this module
says what goes in and what comes out. Weights are long-only and fully invested in the
assets unless a function says otherwise (max Sharpe holds cash when no asset has a
positive expected return). In a point-in-time universe each allocates over the assets
tradable at the decision (and, for those that need a history, with a complete one).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from skfolio.moments import LedoitWolf
from skfolio.optimization import (
    HierarchicalRiskParity,
    MeanRisk,
    ObjectiveFunction,
    RiskBudgeting,
)
from skfolio.optimization import InverseVolatility as _InverseVolatility
from skfolio.prior import EmpiricalPrior

from fin_hgrpo.measures.covariance import ledoit_wolf

# the default look-backs (days of returns) of the allocations that need a history
INVERSE_VOLATILITY_LOOKBACK = 63
MIN_VARIANCE_LOOKBACK = 252
MAX_SHARPE_LOOKBACK = 252
HRP_LOOKBACK = 252
RISK_PARITY_LOOKBACK = 252

Allocate = Callable[[np.ndarray], np.ndarray]  # (days, assets) returns -> assets + cash


def cash_weights(n_assets: int) -> np.ndarray:
    weights = np.zeros(n_assets + 1)
    weights[-1] = 1.0
    return weights


def equal_weights(n_assets: int, chosen: np.ndarray | None = None) -> np.ndarray:
    """Equal weights over ``chosen`` assets (a boolean mask; all by default), no cash; all
    cash when nothing is chosen (nothing tradable in a point-in-time universe)."""
    mask = np.ones(n_assets, bool) if chosen is None else chosen
    if not mask.any():
        return cash_weights(n_assets)
    weights = np.zeros(n_assets + 1)
    weights[:n_assets][mask] = 1.0 / mask.sum()
    return weights


def recent_returns(prices: pd.DataFrame, days: int) -> pd.DataFrame:
    """Simple returns of the last ``days`` days of ``prices`` (fewer early on)."""
    return prices.iloc[-days - 1:].pct_change().iloc[1:]


def from_recent_returns(prices: pd.DataFrame, tradable: np.ndarray, lookback: int,
                        allocate: Allocate, *, idle: bool = False) -> np.ndarray:
    """``allocate`` applied to the last ``lookback`` days of returns of the tradable
    assets with a complete history over them (1/N of the tradable assets until there
    are two such days, or all cash if ``idle``)."""
    returns = recent_returns(prices, lookback).to_numpy()
    usable = tradable & np.isfinite(returns).all(axis=0)
    if len(returns) < 2 or not usable.any():
        return cash_weights(len(tradable)) if idle else equal_weights(len(tradable), tradable)
    weights = np.zeros(len(usable) + 1)
    chosen = allocate(returns[:, usable])
    weights[:-1][usable], weights[-1] = chosen[:-1], chosen[-1]
    return weights


def _shrunk() -> EmpiricalPrior:
    """Sample means and the Ledoit-Wolf shrunk covariance: every optimiser's inputs."""
    return EmpiricalPrior(covariance_estimator=LedoitWolf())


def solved(optimiser, returns: np.ndarray) -> np.ndarray:
    """The optimiser's long-only weights on ``returns`` (days, assets), then no cash;
    a solver's rounding below zero is clipped and the rest renormalised. From fewer
    days than assets a covariance is singular, and skfolio solves with the nearest
    positive definite one (its warning says so on every such day: silenced here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The covariance matrix is not positive")
        weights = np.maximum(optimiser.fit(returns).weights_, 0.0)
    return np.r_[weights / weights.sum(), 0.0]


def inverse_volatility(returns: np.ndarray) -> np.ndarray:
    """Weights proportional to 1 / volatility of the daily returns."""
    return solved(_InverseVolatility(), returns)


def min_variance(returns: np.ndarray) -> np.ndarray:
    """The long-only portfolio of least variance under a Ledoit-Wolf covariance."""
    return solved(MeanRisk(prior_estimator=_shrunk()), returns)


def max_sharpe(returns: np.ndarray) -> np.ndarray:
    """The long-only tangency portfolio: highest mean / volatility of daily returns, the
    means sample means, the covariance Ledoit-Wolf shrunk; cash when no mean is
    positive (there is no tangency portfolio then)."""
    if returns.mean(axis=0).max() <= 0:
        return cash_weights(returns.shape[1])
    return solved(MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
                            prior_estimator=_shrunk()), returns)


def hierarchical_risk_parity(returns: np.ndarray) -> np.ndarray:
    """Lopez de Prado's hierarchical risk parity: the assets clustered by correlation
    (Ward linkage), variance split between the clusters' halves by inverse risk, under
    a Ledoit-Wolf covariance."""
    return solved(HierarchicalRiskParity(prior_estimator=_shrunk()), returns)


def equal_risk_contribution(returns: np.ndarray) -> np.ndarray:
    """The long-only portfolio in which every asset contributes the same share of the
    variance (risk parity), under a Ledoit-Wolf covariance."""
    return solved(RiskBudgeting(prior_estimator=_shrunk()), returns)


def momentum(prices: pd.DataFrame, tradable: np.ndarray, lookback: int, skip: int,
             top_k: int) -> np.ndarray:
    """Equal weights on the ``top_k`` tradable assets by return from ``lookback`` to
    ``skip`` days ago (1/N of the tradable assets before there is such a history)."""
    ranked = _by_momentum(prices, tradable, lookback, skip)
    if not len(ranked):
        return equal_weights(len(tradable), tradable)
    chosen = np.zeros(len(tradable), bool)
    chosen[ranked[:top_k]] = True
    return equal_weights(len(tradable), chosen)


def _by_momentum(prices: pd.DataFrame, tradable: np.ndarray, lookback: int,
                 skip: int) -> np.ndarray:
    """The tradable assets with a return from ``lookback`` to ``skip`` days ago, best
    first (ties in column order); none before there is such a history."""
    values = prices.to_numpy()
    if len(values) <= lookback:
        return np.zeros(0, dtype=int)
    past = values[-1 - skip] / values[-1 - lookback]
    usable = tradable & np.isfinite(past)
    return np.argsort(-np.where(usable, past, -np.inf), kind="stable")[:int(usable.sum())]


def long_short_momentum(prices: pd.DataFrame, tradable: np.ndarray, lookback: int, skip: int,
                        top_k: int, long: float, short: float) -> np.ndarray:
    """Long the ``top_k`` tradable assets by return from ``lookback`` to ``skip`` days
    ago and short the ``top_k`` worst, equal weights, ``long`` and ``short`` of wealth a
    side (0.5 and 0.5: dollar neutral; 1.3 and 0.3: 130/30), cash the rest (fewer a
    side when fewer than ``2 top_k`` have the history; all cash when fewer than two)."""
    ranked = _by_momentum(prices, tradable, lookback, skip)
    k = min(top_k, len(ranked) // 2)
    if k == 0:
        return cash_weights(len(tradable))
    weights = np.zeros(len(tradable) + 1)
    weights[ranked[:k]] = long / k
    weights[ranked[-k:]] = -short / k
    weights[-1] = 1.0 - long + short
    return weights


def scaled_to_gross(allocate: Allocate, gross: float) -> Allocate:
    """``allocate``'s unconstrained (signed) portfolio scaled to ``gross`` exposure,
    the rest in cash (e.g. ``unconstrained_min_variance`` levered or de-levered)."""
    def scaled(returns: np.ndarray) -> np.ndarray:
        assets = allocate(returns)[:-1]
        size = np.abs(assets).sum()
        assets = assets * (gross / size) if size > 0 else assets
        return np.r_[assets, 1.0 - assets.sum()]
    return scaled


def unconstrained_min_variance(returns: np.ndarray) -> np.ndarray:
    """The global minimum-variance portfolio, shorts allowed: C^-1 1 / 1' C^-1 1 under
    a Ledoit-Wolf covariance."""
    raw = np.linalg.solve(ledoit_wolf(returns), np.ones(returns.shape[1]))
    return np.r_[raw / raw.sum(), 0.0]


def unconstrained_tangency(returns: np.ndarray) -> np.ndarray:
    """The tangency portfolio, shorts allowed: C^-1 mu (its direction; scaled to a gross
    exposure by ``scaled_to_gross``), the means sample means."""
    return np.r_[np.linalg.solve(ledoit_wolf(returns), returns.mean(axis=0)), 0.0]
