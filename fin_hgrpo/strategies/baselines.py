"""Classical allocations, the yardsticks every agent is judged against.

Each decides from the last ``lookback`` days of prices in its ``Decision``; none learns
in ``fit``. The allocation math is ``fin_hgrpo.allocation`` (Ledoit-Wolf covariances,
long-only, the tradable assets of a point-in-time universe); these are the strategies
around it.
"""

from __future__ import annotations

import numpy as np

from fin_hgrpo import allocation
from fin_hgrpo.allocation import equal_weights
from fin_hgrpo.strategies.base import Decision, Strategy


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

    default_lookback: int
    allocate: allocation.Allocate

    def __init__(self, lookback: int | None = None) -> None:
        self.lookback = lookback or self.default_lookback

    def weights(self, decision: Decision) -> np.ndarray:
        return allocation.from_recent_returns(decision.prices, decision.tradable,
                                              self.lookback, self.allocate)


class InverseVolatility(_FromRecentReturns):
    """Weights proportional to 1 / volatility of daily returns over ``lookback`` days."""

    name = "inverse_volatility"
    default_lookback = allocation.INVERSE_VOLATILITY_LOOKBACK
    allocate = staticmethod(allocation.inverse_volatility)


class MinVariance(_FromRecentReturns):
    """The long-only portfolio of least variance under a Ledoit-Wolf covariance."""

    name = "min_variance"
    default_lookback = allocation.MIN_VARIANCE_LOOKBACK
    allocate = staticmethod(allocation.min_variance)


class MaxSharpe(_FromRecentReturns):
    """The long-only tangency portfolio: highest mean / volatility of daily returns.

    Means are sample means over ``lookback`` days, covariances Ledoit-Wolf shrunk. With
    no positive mean there is no tangency portfolio, and it holds cash.
    """

    name = "max_sharpe"
    default_lookback = allocation.MAX_SHARPE_LOOKBACK
    allocate = staticmethod(allocation.max_sharpe)


class HierarchicalRiskParity(_FromRecentReturns):
    """Lopez de Prado's hierarchical risk parity over ``lookback`` days: correlation
    clusters, variance split between them by inverse risk (Ledoit-Wolf covariance)."""

    name = "hrp"
    default_lookback = allocation.HRP_LOOKBACK
    allocate = staticmethod(allocation.hierarchical_risk_parity)


class EqualRiskContribution(_FromRecentReturns):
    """Risk parity over ``lookback`` days: each asset contributes the same share of the
    variance (Ledoit-Wolf covariance)."""

    name = "risk_parity"
    default_lookback = allocation.RISK_PARITY_LOOKBACK
    allocate = staticmethod(allocation.equal_risk_contribution)


class Momentum(Strategy):
    """Equal weights on the ``top_k`` assets by return from ``lookback`` to ``skip`` days
    ago (skipping the last month avoids its short-term reversal)."""

    name = "momentum"

    def __init__(self, lookback: int = 126, skip: int = 21, top_k: int = 5) -> None:
        if not 0 <= skip < lookback:
            raise ValueError(f"momentum needs 0 <= skip < lookback, got {skip}, {lookback}")
        self.lookback, self.skip, self.top_k = lookback, skip, top_k

    def weights(self, decision: Decision) -> np.ndarray:
        return allocation.momentum(decision.prices, decision.tradable, self.lookback,
                                   self.skip, self.top_k)


class Cash(Strategy):
    """All cash, always: the baseline of a market-neutral book, which is judged by what
    it earns beyond cash."""

    name = "cash"

    def weights(self, decision: Decision) -> np.ndarray:
        return allocation.cash_weights(len(decision.tradable))


class LongShortMomentum(Strategy):
    """Long the ``top_k`` assets by return from ``lookback`` to ``skip`` days ago and
    short the ``top_k`` worst: ``long`` and ``short`` of wealth a side (0.5 and 0.5 is
    dollar neutral, 1.3 and 0.3 is 130/30); a long-short book's baseline."""

    name = "long_short_momentum"

    def __init__(self, lookback: int = 126, skip: int = 21, top_k: int = 3,
                 long: float = 0.5, short: float = 0.5) -> None:
        if not 0 <= skip < lookback:
            raise ValueError(f"momentum needs 0 <= skip < lookback, got {skip}, {lookback}")
        self.lookback, self.skip, self.top_k = lookback, skip, top_k
        self.long, self.short = long, short

    def weights(self, decision: Decision) -> np.ndarray:
        return allocation.long_short_momentum(decision.prices, decision.tradable,
                                              self.lookback, self.skip, self.top_k,
                                              self.long, self.short)


class _ScaledToGross(Strategy):
    """A signed portfolio from the last ``lookback`` days of returns, scaled to
    ``gross`` exposure, the rest in cash, then the nearest weights within the book's
    limits (all cash until there are two days)."""

    allocate: allocation.Allocate

    def __init__(self, lookback: int = 252, gross: float = 1.0) -> None:
        self.lookback, self.gross = lookback, gross

    def weights(self, decision: Decision) -> np.ndarray:
        return decision.within_book(allocation.from_recent_returns(
            decision.prices, decision.tradable, self.lookback,
            allocation.scaled_to_gross(self.allocate, self.gross), idle=True))


class LongShortMinVariance(_ScaledToGross):
    """The global minimum-variance portfolio with shorts (Ledoit-Wolf), at ``gross``."""

    name = "long_short_min_variance"
    allocate = staticmethod(allocation.unconstrained_min_variance)


class LongShortTangency(_ScaledToGross):
    """The tangency portfolio with shorts (sample means, Ledoit-Wolf), at ``gross``."""

    name = "long_short_tangency"
    allocate = staticmethod(allocation.unconstrained_tangency)
