"""The ``Strategy`` interface every allocation (baseline, agent, user's own) implements.

A strategy is fitted on a training window, then asked for target weights at each
rebalance date of a test window. What it may see at a decision is exactly what a
``Decision`` holds: prices up to and including the close of that day, the portfolio it
holds now (yesterday's target drifted by today's prices) and the causal feature window
the agents observe. Nothing later exists in it, so a strategy cannot look ahead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fin_hgrpo.allocation import recent_returns
from fin_hgrpo.data import MarketPanel

if TYPE_CHECKING:  # a classical strategy runs without torch; an agent's observation is one
    import torch

    from fin_hgrpo.envs.book import Book


@dataclass(frozen=True)
class Decision:
    """What a strategy knows at the close of ``date``.

    ``prices``: adjusted closes, dates x tickers, up to and including ``date`` (NaN where
    a ticker was not listed); ``holdings``: current weights, the assets in ``prices``'
    column order then cash, a read-only copy (the engine's own state cannot be edited from
    here); ``tradable``: which assets can be traded at this close (all, unless the
    universe is point-in-time). Weight put on an untradable asset is not executed: the
    engine moves it to the tradable ones and cash. ``book``: a long-short book's limits
    (None for a long-only portfolio), which a target must keep.
    """

    date: pd.Timestamp
    prices: pd.DataFrame
    holdings: np.ndarray
    _observe: Callable[[], torch.Tensor] = field(repr=False)
    tradable: np.ndarray | None = None
    book: Book | None = None

    def __post_init__(self) -> None:
        if self.tradable is None:
            object.__setattr__(self, "tradable", np.ones(len(self.prices.columns), bool))

    @property
    def tickers(self) -> list[str]:
        return list(self.prices.columns)

    def observation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The agents' view: feature window (1, window, A, F) and holdings (1, A+1)."""
        import torch

        return self._observe(), torch.tensor(self.holdings)[None]

    def within_book(self, weights: np.ndarray) -> np.ndarray:
        """Signed ``weights`` (assets, then cash) moved to the nearest within the book's
        limits, cash what is left; unchanged without a book."""
        if self.book is None:
            return weights
        import torch

        return self.book.within(torch.as_tensor(weights, dtype=torch.float64)).numpy()

    def returns(self, days: int) -> pd.DataFrame:
        """Simple returns of the last ``days`` days (fewer early in the history)."""
        return recent_returns(self.prices, days)


class Strategy(ABC):
    """Learns in ``fit`` from the training window only; decides in ``weights``.

    ``universe``: the tickers it trades, or None for the backtest's universe (the
    single-asset benchmark names its own).
    """

    name: str = "strategy"
    universe: list[str] | None = None

    def fit(self, train: MarketPanel) -> None:  # noqa: B027 - most baselines learn nothing
        """Learn from the training window (``train`` holds nothing after it)."""

    @abstractmethod
    def weights(self, decision: Decision) -> np.ndarray:
        """Target weights at ``decision.date``: the assets then cash, >= 0, summing to 1
        (on a long-short book: signed, within ``decision.book``, summing to 1)."""

    @property
    def training_log(self) -> pd.DataFrame | None:
        """Per-iteration training metrics of the last ``fit``, for strategies that train."""
        return None

