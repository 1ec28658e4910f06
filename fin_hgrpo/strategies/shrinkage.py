"""How much of an agent's tilt to trust: shrinking it toward its base by measured skill.

An agent's target w departs from its base b (1/N for the default specs) by its tilt
w - b. Without evidence of skill the tilt is estimation noise, which 1/N does not pay
(DeMiguel, Garlappi and Uppal 2009). So the deployed target is b + kappa (w - b):

- ``skill``: kappa = max(0, 1 - 1/t^2) for t > 1, else 0, where t is a Newey-West
  t-statistic of the agent's net daily active return against its base over its own
  past test folds. This is Kan and Zhou's (2007) scaling of an estimated tangency
  portfolio, theta^2 / (theta^2 + N/T), with the tilt as the one asset and the plug-in
  estimate theta^2 - 1/T: t <= 1 holds the base, t = 2 keeps 75% of the tilt, t = 3
  keeps 89%. ``skill = "alpha"`` (the default) takes t of the active return's alpha:
  the intercept of its regression on the base's excess return. Adding a tilt raises
  the Sharpe ratio of what is held only where that alpha is positive (the spanning
  test of Huberman and Kandel 1987), and theta^2 of the tilt beyond the base is its
  squared appraisal ratio. ``skill = "mean"`` takes t of the active return's mean, as
  Kan and Zhou's scaling reads literally: a tilt that only adds the market's risk
  (toward the most volatile names) has a positive mean and no alpha.
- ``cap``: the tilt's active share (half its absolute sum) is capped at r, the cap
  among ``caps`` whose capped agent had the best Sharpe over the past test folds
  (DeMiguel, Garlappi, Nogales and Uppal 2009 choose a norm bound so, and r = 0 is 1/N).

Before any past fold exists there is no evidence: kappa = 0 and r = 0 hold the base.
The training window's held-out days do not stand in for it: they did not foresee the
test years in this project's selection study (rank correlation +0.07, against +0.57
for past test years; docs/selection.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from arch.covariance.kernel import Bartlett

from fin_hgrpo.algos.bases import BaseKind, base_allocation
from fin_hgrpo.allocation import equal_weights
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.measures import performance
from fin_hgrpo.strategies.base import Decision, Strategy

Shrink = Literal["none", "skill", "cap"]
Skill = Literal["alpha", "mean"]
MIN_DAYS = 20  # fewer past days than this is no evidence: the base is held


@dataclass(frozen=True)
class Tilt:
    """The share ``kappa`` of an agent's tilt a portfolio keeps, then capped at an
    active share of ``cap`` (None: no cap)."""

    kappa: float = 1.0
    cap: float | None = None

    @property
    def holds_base(self) -> bool:
        """Whether it keeps none of the tilt: the base itself, whatever the agent says."""
        return self.kappa == 0.0 or self.cap == 0.0

    def apply(self, targets: np.ndarray, bases: np.ndarray) -> np.ndarray:
        """Targets (..., A+1) moved toward their bases (..., A+1): ``base + k (target -
        base)``, k = kappa, lowered further where the active share exceeds the cap. A
        mix of two portfolios on the simplex (or within a convex book) stays there."""
        tilt = targets - bases
        share = 0.5 * np.abs(tilt).sum(-1, keepdims=True)
        scale = np.full_like(share, self.kappa)
        if self.cap is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(share > self.cap, scale * self.cap / share, scale)
        return bases + scale * tilt


class ShrunkAgent(Strategy):
    """An agent strategy (an ``RLStrategy`` or a seed ensemble of them) whose tilt from
    its base ``base`` is kept as ``tilt`` says: what ``<agent>_shrunk`` holds."""

    def __init__(self, agent: Strategy, base: BaseKind | None, tilt: Tilt, name: str) -> None:
        self.agent, self.base, self.tilt, self.name = agent, base, tilt, name

    def fit(self, train: MarketPanel) -> None:
        self.agent.fit(train)

    def weights(self, decision: Decision) -> np.ndarray:
        base = tilt_base(self.base, decision.prices, decision.tradable)
        if self.tilt.holds_base:
            return base
        return self.tilt.apply(np.asarray(self.agent.weights(decision), float), base)

    @property
    def training_log(self) -> pd.DataFrame | None:
        return None  # the agent's training is the raw run's


def tilt_base(kind: BaseKind | None, prices: pd.DataFrame, tradable: np.ndarray) -> np.ndarray:
    """The portfolio a tilt is shrunk toward: the agent's base allocation, or 1/N over
    the ``tradable`` names for an agent without a base table (none, or the holdings)."""
    if kind in (None, "holdings"):
        return equal_weights(len(tradable), tradable)
    return base_allocation(kind, prices, tradable)


def t_statistic(active: np.ndarray) -> float:
    """The Newey-West t-statistic of the mean of ``active`` (daily returns less the
    base's; Bartlett kernel, automatic bandwidth); NaN where it has no spread."""
    active = np.asarray(active, dtype=float)
    active = active[np.isfinite(active)]
    if len(active) < 2 or np.ptp(active) == 0.0:
        return float("nan")
    long_run = float(Bartlett(active).cov.long_run[0, 0])
    if not long_run > 0:
        return float("nan")
    return float(active.mean() / np.sqrt(long_run / len(active)))


def alpha_t_statistic(active: np.ndarray, base: np.ndarray) -> float:
    """The Newey-West t-statistic of alpha in ``active = alpha + beta base + e`` (OLS;
    ``base``: the base's excess returns on the same days; Bartlett kernel, automatic
    bandwidth, on the moment conditions x e); NaN where it is not defined."""
    active, base = np.asarray(active, dtype=float), np.asarray(base, dtype=float)
    keep = np.isfinite(active) & np.isfinite(base)
    active, base = active[keep], base[keep]
    n = len(active)
    if n < 3 or np.ptp(base) == 0.0:
        return float("nan")
    x = np.column_stack([np.ones(n), base])
    coef, *_ = np.linalg.lstsq(x, active, rcond=None)
    moments = x * (active - x @ coef)[:, None]
    if not np.ptp(moments[:, 0]) > 0.0:
        return float("nan")
    bread = np.linalg.inv(x.T @ x / n)
    long_run = np.asarray(Bartlett(moments).cov.long_run)
    variance = (bread @ long_run @ bread)[0, 0] / n
    return float(coef[0] / np.sqrt(variance)) if variance > 0 else float("nan")


def skill_kappa(active: np.ndarray, base: np.ndarray | None = None) -> float:
    """kappa = max(0, 1 - 1/t^2) for t > 1, else 0: t the ``alpha_t_statistic`` of the
    past daily active returns against the base's excess returns ``base``, or, without
    them, the ``t_statistic`` of their mean; 0 with fewer than ``MIN_DAYS`` days."""
    active = np.asarray(active, dtype=float)
    if np.isfinite(active).sum() < MIN_DAYS:
        return 0.0
    t = t_statistic(active) if base is None else alpha_t_statistic(active, base)
    return float(1.0 - 1.0 / t**2) if t > 1.0 else 0.0


def best_cap(caps: Sequence[float], past: Sequence[pd.Series], *,
             rf: performance.CashRate = 0.0) -> float:
    """The cap whose capped agent had the best Sharpe (in excess of ``rf``) over its
    past test days (``past``: daily net returns per cap, in the order of ``caps``); the
    smallest cap where there is no evidence (fewer than ``MIN_DAYS`` days) or on ties."""
    best, best_sharpe = min(caps), -np.inf
    for cap, returns in sorted(zip(caps, past, strict=True)):
        returns = returns.dropna()
        if len(returns) < MIN_DAYS:
            continue
        sharpe = performance.sharpe(returns, annualize=False, rf=rf)
        if np.isfinite(sharpe) and sharpe > best_sharpe:
            best, best_sharpe = cap, sharpe
    return float(best)


def shrunk_name(strategy: str, column: str) -> tuple[str, str]:
    """A twin's strategy and column: ``<agent>_shrunk`` and ``<agent>_shrunk_seed<s>``
    for a seed's run, ``<agent>_shrunk_ensemble`` for the ensemble ``<agent>_ensemble``."""
    if strategy == column and strategy.endswith("_ensemble"):
        name = f"{strategy.removesuffix('_ensemble')}_shrunk_ensemble"
        return name, name
    return f"{strategy}_shrunk", f"{strategy}_shrunk{column.removeprefix(strategy)}"


def raw_run(twin: str) -> str:
    """The raw run a twin's column shrinks: ``shrunk_name``'s inverse."""
    return twin.replace("_shrunk_ensemble", "_ensemble") if twin.endswith("_shrunk_ensemble") \
        else twin.replace("_shrunk_seed", "_seed")
