"""Base portfolios a residual policy tilts: what it holds when its tilt is zero.

``equal_weight``, ``inverse_volatility`` and ``min_variance`` are the classical
strategies of the same names (their default look-backs), asked at every day of a
simulator's panel from prices up to that day; ``holdings`` is the portfolio held now,
so that a zero tilt holds still. Tables are computed once per panel and kind.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from fin_hgrpo.envs import PortfolioSim

if TYPE_CHECKING:
    from fin_hgrpo.strategies.base import Strategy

BaseKind = Literal["equal_weight", "inverse_volatility", "min_variance", "holdings"]
_TABLES: dict[tuple, np.ndarray] = {}
_MAX_TABLES = 64


def base_strategy(kind: BaseKind) -> type[Strategy] | None:
    """The classical strategy that names the base at a decision (None for holdings)."""
    from fin_hgrpo.strategies import baselines  # strategies build on algos: import late

    return {"equal_weight": baselines.EqualWeight, "holdings": None,
            "inverse_volatility": baselines.InverseVolatility,
            "min_variance": baselines.MinVariance}[kind]


def base_table(sim: PortfolioSim, kind: BaseKind) -> np.ndarray:
    """The base's weights (T, A+1) at every day of ``sim``'s panel, causal: row t is
    what the base strategy names at the close of day t."""
    make = base_strategy(kind)
    if make is None:
        raise ValueError("the holdings base is the portfolio held, not a table")
    tradable = sim.tradable.numpy(force=True)
    prices = sim.panel.prices
    digest = hashlib.sha1(prices.to_numpy().tobytes() + tradable.tobytes()).hexdigest()
    key = (kind, digest, tuple(sim.panel.tickers))
    if key not in _TABLES:
        from fin_hgrpo.strategies.base import Decision

        strategy, n = make(), sim.n_assets
        held = np.r_[np.zeros(n), 1.0]
        rows = [strategy.weights(Decision(sim.dates[t], prices.iloc[:t + 1], held,
                                          _no_observation, tradable[t]))
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


def _no_observation() -> torch.Tensor:
    raise RuntimeError("a base portfolio is computed from prices alone")
