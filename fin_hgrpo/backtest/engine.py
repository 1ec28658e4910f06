"""The backtest engine: a strategy run over a period through ``PortfolioSim``.

The same arithmetic as training (costs, drift of weights between rebalances, cash)
because it is the same simulator. The portfolio starts all in cash at the close of the
first decision day. On a rebalance day the strategy names target weights and the
portfolio trades to them; on other days it holds what it has, drifting with prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.data.synthetic import CASH
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.strategies.base import Decision, Strategy

Rebalance = Literal["daily", "weekly", "monthly"]
_WEIGHT_TOLERANCE = 1e-6


class StrategyError(FinHgrpoError):
    """A strategy returned weights the engine cannot trade to."""


@dataclass
class StrategyRun:
    """What one run recorded.

    ``daily``: indexed by the date each return is earned (the close after the decision),
    columns ``net_return``, ``turnover``, ``cost``; ``weights``: the portfolio held from
    each decision day's close (target on rebalance days, drifted holdings otherwise).
    """

    daily: pd.DataFrame
    weights: pd.DataFrame

    @property
    def wealth(self) -> pd.Series:
        return (1.0 + self.daily["net_return"]).cumprod()


def rebalance_days(dates: pd.DatetimeIndex, frequency: Rebalance) -> np.ndarray:
    """Which ``dates`` are rebalance days: every day, or the first trading day of each
    week / month (the first date always)."""
    if frequency == "daily":
        return np.ones(len(dates), bool)
    if frequency not in ("weekly", "monthly"):
        raise ValueError(f"rebalance must be daily, weekly or monthly, got {frequency!r}")
    periods = dates.to_period("W" if frequency == "weekly" else "M")
    due = np.ones(len(dates), bool)
    due[1:] = periods[1:] != periods[:-1]
    return due


def run_strategy(strategy: Strategy, sim: PortfolioSim, first: int, last: int,
                 rebalance: Rebalance = "daily") -> StrategyRun:
    """Run ``strategy`` from decision day ``first`` to ``last`` (indices into ``sim``)."""
    if not sim.first_decision <= first <= last <= sim.last_decision:
        raise ValueError(f"days {first}..{last} are outside the decision days "
                         f"{sim.first_decision}..{sim.last_decision}")
    prices = sim.panel.prices
    dates = sim.dates
    due = rebalance_days(dates[first:last + 1], rebalance)
    n = sim.n_assets
    holdings = torch.zeros(1, n + 1, dtype=sim.dtype, device=sim.device)
    holdings[0, -1] = 1.0
    held, records = [], []
    for offset, t in enumerate(range(first, last + 1)):
        day = torch.tensor([t], device=sim.device)
        if due[offset]:
            decision = Decision(dates[t], prices.iloc[:t + 1], holdings[0].numpy(force=True),
                                lambda day=day: sim.observe(day))
            target = _checked(strategy.weights(decision), strategy.name, dates[t], n)
            target = sim.constrain(torch.as_tensor(target, dtype=sim.dtype,
                                                   device=sim.device)[None])
        else:
            target = holdings
        scored = sim.score(day, holdings, target[:, None, :])
        held.append(target[0])
        records.append((float(scored.net_return[0, 0]), float(scored.turnover[0, 0]),
                        float(scored.cost[0, 0])))
        holdings = scored.holdings[:, 0]
    daily = pd.DataFrame(records, columns=["net_return", "turnover", "cost"],
                         index=dates[first + 1:last + 2])
    weights = pd.DataFrame(torch.stack(held).numpy(force=True), index=dates[first:last + 1],
                           columns=[*sim.panel.tickers, CASH])
    return StrategyRun(daily.rename_axis("date"), weights.rename_axis("date"))


def _checked(weights: object, name: str, date: pd.Timestamp, n_assets: int) -> np.ndarray:
    """Weights as a float array on the simplex, or an error naming strategy and date."""
    values = np.asarray(weights, dtype=float).reshape(-1)
    where = f"strategy {name!r} on {date.date()}"
    if values.shape != (n_assets + 1,):
        raise StrategyError(f"{where}: returned {values.size} weights, needs {n_assets + 1} "
                            f"(the assets, then cash)")
    if not np.isfinite(values).all():
        raise StrategyError(f"{where}: returned NaN or infinite weights")
    if values.min() < -_WEIGHT_TOLERANCE or abs(values.sum() - 1.0) > _WEIGHT_TOLERANCE:
        raise StrategyError(f"{where}: weights must be >= 0 and sum to 1 "
                            f"(min {values.min():.3g}, sum {values.sum():.6g})")
    values = np.clip(values, 0.0, None)
    return values / values.sum()
