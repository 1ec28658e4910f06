"""Classical allocations, the yardsticks every agent is judged against.

Each decides from the last ``lookback`` days of prices in its ``Decision``; none learns
in ``fit``. In a point-in-time universe each allocates over the assets tradable at the
decision (and, for those that need a history, with a complete one). Covariances are
Ledoit-Wolf shrunk (sample covariances of 19 assets from a year of days are too noisy
to invert). Weights are long-only and fully invested in the
assets unless a strategy says otherwise (max Sharpe holds cash when no asset has a
positive expected return).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from scipy.optimize import minimize

from fin_hgrpo.strategies.base import Decision, Strategy, cash_weights, equal_weights


class EqualWeight(Strategy):
    """1/N across the assets, rebalanced back to it at every rebalance date."""

    name = "equal_weight"

    def weights(self, decision: Decision) -> np.ndarray:
        return equal_weights(len(decision.tradable), decision.tradable)


class BuyAndHold(Strategy):
    """1/N on the first day, then never trades: weights drift with prices."""

    name = "buy_and_hold"

    def weights(self, decision: Decision) -> np.ndarray:
        if decision.holdings[-1] >= 1.0 - 1e-12:  # all in cash: not invested yet
            return equal_weights(len(decision.tradable), decision.tradable)
        return decision.holdings


class Benchmark(Strategy):
    """All in one asset (an index ETF such as SPY), bought once and held."""

    name = "benchmark"

    def __init__(self, ticker: str = "SPY") -> None:
        self.ticker = ticker
        self.universe = [ticker]

    def weights(self, decision: Decision) -> np.ndarray:
        held = np.zeros(len(decision.tickers) + 1)
        held[decision.tickers.index(self.ticker)] = 1.0
        return held


class _FromRecentReturns(Strategy):
    """A strategy that allocates from the daily returns of its last ``lookback`` days
    (1/N until it has two of them)."""

    default_lookback = 252

    def __init__(self, lookback: int | None = None) -> None:
        self.lookback = lookback or self.default_lookback

    def weights(self, decision: Decision) -> np.ndarray:
        returns = decision.returns(self.lookback).to_numpy()
        usable = decision.tradable & np.isfinite(returns).all(axis=0)
        if len(returns) < 2 or not usable.any():
            return equal_weights(len(decision.tradable), decision.tradable)
        weights = np.zeros(len(usable) + 1)
        chosen = self.allocate(returns[:, usable])
        weights[:-1][usable], weights[-1] = chosen[:-1], chosen[-1]
        return weights

    @abstractmethod
    def allocate(self, returns: np.ndarray) -> np.ndarray:
        """Weights (assets, then cash) from a (days, assets) array of returns."""


class InverseVolatility(_FromRecentReturns):
    """Weights proportional to 1 / volatility of daily returns over ``lookback`` days."""

    name = "inverse_volatility"
    default_lookback = 63

    def allocate(self, returns: np.ndarray) -> np.ndarray:
        inverse = 1.0 / np.maximum(returns.std(axis=0, ddof=1), 1e-12)
        return np.r_[inverse / inverse.sum(), 0.0]


class MinVariance(_FromRecentReturns):
    """The long-only portfolio of least variance under a Ledoit-Wolf covariance."""

    name = "min_variance"

    def allocate(self, returns: np.ndarray) -> np.ndarray:
        cov = ledoit_wolf(returns)
        n = returns.shape[1]
        return np.r_[_long_only(lambda w: w @ cov @ w, lambda w: 2 * cov @ w, n), 0.0]


class MaxSharpe(_FromRecentReturns):
    """The long-only tangency portfolio: highest mean / volatility of daily returns.

    Means are sample means over ``lookback`` days, covariances Ledoit-Wolf shrunk. With
    no positive mean there is no tangency portfolio, and it holds cash.
    """

    name = "max_sharpe"

    def allocate(self, returns: np.ndarray) -> np.ndarray:
        n = returns.shape[1]
        mean, cov = returns.mean(axis=0), ledoit_wolf(returns)
        if mean.max() <= 0:
            return cash_weights(n)
        # maximise mu.w / sqrt(w' C w) on the simplex: minimise y' C y with mu.y = 1,
        # y >= 0, then w = y / sum(y) (the ratio is scale-free)
        start = np.where(mean == mean.max(), 1.0 / mean.max(), 0.0)
        result = minimize(lambda y: y @ cov @ y, start, jac=lambda y: 2 * cov @ y,
                          bounds=[(0.0, None)] * n, method="SLSQP",
                          constraints=[{"type": "eq", "fun": lambda y: mean @ y - 1.0,
                                        "jac": lambda y: mean}],
                          options={"ftol": 1e-15, "maxiter": 500})
        y = np.maximum(result.x, 0.0)
        return np.r_[y / y.sum(), 0.0]


class Momentum(Strategy):
    """Equal weights on the ``top_k`` assets by return from ``lookback`` to ``skip`` days
    ago (skipping the last month avoids its short-term reversal)."""

    name = "momentum"

    def __init__(self, lookback: int = 126, skip: int = 21, top_k: int = 5) -> None:
        if not 0 <= skip < lookback:
            raise ValueError(f"momentum needs 0 <= skip < lookback, got {skip}, {lookback}")
        self.lookback, self.skip, self.top_k = lookback, skip, top_k

    def weights(self, decision: Decision) -> np.ndarray:
        prices = decision.prices.to_numpy()
        n = prices.shape[1]
        if len(prices) <= self.lookback:
            return equal_weights(len(decision.tradable), decision.tradable)
        past = prices[-1 - self.skip] / prices[-1 - self.lookback]
        usable = decision.tradable & np.isfinite(past)
        if not usable.any():
            return equal_weights(len(decision.tradable), decision.tradable)
        ranked = np.argsort(-np.where(usable, past, -np.inf), kind="stable")
        chosen = np.zeros(n, bool)
        chosen[ranked[: min(self.top_k, int(usable.sum()))]] = True
        return equal_weights(n, chosen)


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Ledoit and Wolf's (2004) shrinkage of the sample covariance towards a scaled
    identity, with their estimate of the optimal intensity. ``returns``: (days, assets)."""
    x = returns - returns.mean(axis=0)
    n, p = x.shape
    sample = x.T @ x / n
    mu = np.trace(sample) / p
    target_distance = np.sum((sample - mu * np.eye(p)) ** 2) / p
    squares = x**2
    spread = (np.sum(squares.T @ squares) / n - np.sum(sample**2)) / (p * n)
    intensity = 0.0 if target_distance == 0 else min(spread, target_distance) / target_distance
    return (1.0 - intensity) * sample + intensity * mu * np.eye(p)


def _long_only(objective, gradient, n: int) -> np.ndarray:
    """Minimise a smooth function of weights on the simplex (SLSQP from 1/N)."""
    result = minimize(objective, np.full(n, 1.0 / n), jac=gradient, method="SLSQP",
                      bounds=[(0.0, 1.0)] * n,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                    "jac": lambda w: np.ones_like(w)}],
                      options={"ftol": 1e-15, "maxiter": 500})
    w = np.maximum(result.x, 0.0)
    return w / w.sum()
