"""Base portfolios a residual policy tilts: what it holds when its tilt is zero.

``equal_weight``, ``inverse_volatility`` and ``min_variance`` are the classical
allocations of the same names (``fin_hgrpo.allocation``, their default look-backs),
``cash`` holds nothing (the flat book a market-neutral long-short policy tilts),
asked at every day of a simulator's panel from prices up to that day; ``holdings`` is
the portfolio held now, so that a zero tilt holds still. Tables are computed once per
panel and kind. ``base_allocation`` is the same allocation at one decision, which the
agent as a strategy asks at test time: it tilts there exactly what it tilted in training.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd
import torch

from fin_hgrpo import allocation
from fin_hgrpo.envs import PortfolioSim

BaseKind = Literal["equal_weight", "inverse_volatility", "min_variance", "cash", "holdings"]
_TABLES: dict[tuple, np.ndarray] = {}
_MAX_TABLES = 64


def _equal_weight(prices: pd.DataFrame, tradable: np.ndarray) -> np.ndarray:
    return allocation.equal_weights(len(tradable), tradable)


def _cash(prices: pd.DataFrame, tradable: np.ndarray) -> np.ndarray:
    return allocation.cash_weights(len(tradable))


# (prices up to the decision, tradable mask) -> the base's weights, assets then cash
_ALLOCATIONS = {
    "equal_weight": _equal_weight,
    "cash": _cash,  # a flat book: what a market-neutral residual policy tilts
    "inverse_volatility": partial(allocation.from_recent_returns,
                                  lookback=allocation.INVERSE_VOLATILITY_LOOKBACK,
                                  allocate=allocation.inverse_volatility),
    "min_variance": partial(allocation.from_recent_returns,
                            lookback=allocation.MIN_VARIANCE_LOOKBACK,
                            allocate=allocation.min_variance),
}


def base_allocation(kind: BaseKind, prices: pd.DataFrame, tradable: np.ndarray) -> np.ndarray:
    """The base's weights (A+1,) at a decision: ``prices`` up to and including its close
    (dates x tickers) and the ``tradable`` mask of that day."""
    if kind not in _ALLOCATIONS:
        raise ValueError(f"the {kind} base is the portfolio held, not an allocation")
    return _ALLOCATIONS[kind](prices, tradable)


def base_table(sim: PortfolioSim, kind: BaseKind) -> np.ndarray:
    """The base's weights (T, A+1) at every day of ``sim``'s panel, causal: row t is
    what the base allocation names at the close of day t."""
    if kind not in _ALLOCATIONS:
        raise ValueError("the holdings base is the portfolio held, not a table")
    tradable = sim.tradable.numpy(force=True)
    prices = sim.panel.prices
    digest = hashlib.sha1(prices.to_numpy().tobytes() + tradable.tobytes()).hexdigest()
    key = (kind, digest, tuple(sim.panel.tickers))
    if key not in _TABLES:
        rows = [base_allocation(kind, prices.iloc[:t + 1], tradable[t])
                for t in range(len(sim.dates))]
        if len(_TABLES) >= _MAX_TABLES:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = np.stack(rows)
    return _TABLES[key]


def base_weights(kind: BaseKind | None, table: torch.Tensor | None, t: torch.Tensor,
                 holdings: torch.Tensor) -> torch.Tensor | None:
    """The base at days ``t`` (B,) for portfolios ``holdings`` (B, A+1): None without a
    base, the holdings themselves for ``holdings``, else rows of ``table`` (a
    ``base_table`` as a tensor)."""
    if kind is None:
        return None
    if kind == "holdings":
        return holdings
    return table[t]


def base_tensor(sim: PortfolioSim, kind: BaseKind | None) -> torch.Tensor | None:
    """``base_table`` on ``sim``'s dtype and device, for ``base_weights``; None where
    the base is not a table (no base, or the holdings)."""
    if kind in (None, "holdings"):
        return None
    return torch.as_tensor(base_table(sim, kind), dtype=sim.dtype, device=sim.device)
