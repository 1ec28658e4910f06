"""The backtest engine: a strategy run over a period through ``PortfolioSim``.

The same arithmetic as training (costs, drift of weights between rebalances, cash)
because it is the same simulator. The portfolio starts all in cash at the close of the
first decision day, or from a ``Position`` carried over from an earlier run (the next
walk-forward fold starts with what the last one held). On a rebalance day the strategy
names target weights and the portfolio trades to them, except for trades smaller than
``min_trade`` (a no-trade band); on other days it holds what it has, drifting with
prices. A strategy sees read-only copies of the engine's state: it cannot change what
it is charged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.data.synthetic import CASH
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.envs.sim import apply_no_trade_band
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.strategies.base import Decision, Strategy

Rebalance = Literal["daily", "weekly", "monthly"] | int  # an int: every N bars
_WEIGHT_TOLERANCE = 1e-6


class StrategyError(FinHgrpoError):
    """A strategy returned weights the engine cannot trade to."""


@dataclass(frozen=True)
class Position:
    """Weights held at the close of ``date``: the assets, then cash."""

    date: pd.Timestamp
    weights: np.ndarray


@dataclass
class StrategyRun:
    """What one run recorded.

    ``daily``: indexed by the date each return is earned (the close after the decision),
    columns ``net_return``, ``turnover`` (one-way), ``cost``; ``weights``: the portfolio
    held from each decision day's close (target on rebalance days, drifted holdings
    otherwise); ``end``: the holdings at the close of the last return's day.
    """

    daily: pd.DataFrame
    weights: pd.DataFrame
    end: Position

    @property
    def wealth(self) -> pd.Series:
        return (1.0 + self.daily["net_return"]).cumprod()


def rebalance_days(dates: pd.DatetimeIndex, frequency: Rebalance) -> np.ndarray:
    """Which ``dates`` are rebalance days: every day, every N bars (an int), or the first
    trading day of each week / month (the first date always)."""
    if isinstance(frequency, int) and not isinstance(frequency, bool):
        if frequency < 1:
            raise ValueError(f"rebalance must be daily, weekly, monthly or a number of bars "
                             f">= 1, got {frequency}")
        return np.arange(len(dates)) % frequency == 0
    if frequency == "daily":
        return np.ones(len(dates), bool)
    if frequency not in ("weekly", "monthly"):
        raise ValueError(f"rebalance must be daily, weekly or monthly, got {frequency!r}")
    periods = dates.to_period("W" if frequency == "weekly" else "M")
    due = np.ones(len(dates), bool)
    due[1:] = periods[1:] != periods[:-1]
    return due


def run_strategy(strategy: Strategy, sim: PortfolioSim, first: int, last: int,
                 rebalance: Rebalance = "daily", *, start: Position | None = None,
                 min_trade: float = 0.0) -> StrategyRun:
    """Run ``strategy`` from decision day ``first`` to ``last`` (indices into ``sim``).

    ``start``: the holdings to begin with (default: all cash); held at an earlier close,
    they drift with prices up to ``first`` without trading. ``min_trade``: assets whose
    trade would be smaller than this share of wealth are not traded.
    """
    dates = sim.dates

    def decide(t: int, holdings: torch.Tensor) -> torch.Tensor:
        return ask(strategy, sim, t, holdings)

    path = simulate(decide, sim, first, last, rebalance,
                    starting_holdings(sim, first, start), min_trade=min_trade)
    records = torch.stack([path.net_return[0], path.turnover[0], path.cost[0]], 1)
    daily = pd.DataFrame(records.numpy(force=True), columns=["net_return", "turnover", "cost"],
                         index=dates[first + 1:last + 2])
    weights = pd.DataFrame(path.weights[0].numpy(force=True), index=dates[first:last + 1],
                           columns=[*sim.panel.tickers, CASH])
    end = Position(dates[last + 1], path.end[0].numpy(force=True).copy())
    return StrategyRun(daily.rename_axis("date"), weights.rename_axis("date"), end)


def ask(strategy: Strategy, sim: PortfolioSim, t: int, holdings: torch.Tensor) -> torch.Tensor:
    """The strategy's checked target (1, A+1) at the close of day ``t``, holding
    ``holdings`` (1, A+1), from what a ``Decision`` holds then."""
    current = holdings[0].numpy(force=True).copy()
    current.flags.writeable = False
    tradable = sim.tradable[t].numpy(force=True) if sim.masked else None
    day = torch.tensor([t], device=sim.device)
    decision = Decision(sim.dates[t], sim.panel.prices.iloc[:t + 1], current,
                        lambda: sim.observe(day), tradable)
    target = checked_target(_ask(strategy, decision), strategy.name, sim.dates[t],
                            sim.n_assets)
    return torch.as_tensor(target, dtype=sim.dtype, device=sim.device)[None]


def traded_target(sim: PortfolioSim, t: int, holdings: torch.Tensor, target: torch.Tensor,
                  min_trade: float = 0.0) -> torch.Tensor:
    """What B portfolios holding ``holdings`` end up with after trading to ``target``
    (both (B, A+1)) at the close of day ``t``: trades under ``min_trade`` are not made,
    the caps hold, and untradable assets are not bought."""
    day = torch.full((len(holdings),), t, device=sim.device)
    target = sim.constrain(apply_no_trade_band(holdings, target, min_trade))
    return sim.restrict(day, holdings, target[:, None, :])[1][:, 0]


@dataclass
class Path:
    """B portfolios' run, as tensors: (B, days) ``net_return``, ``turnover`` and ``cost``,
    (B, days, A+1) ``weights`` held from each decision day's close, (B, A+1) ``end``."""

    net_return: torch.Tensor
    turnover: torch.Tensor
    cost: torch.Tensor
    weights: torch.Tensor
    end: torch.Tensor


# the targets (B, A+1) on the simplex, in the simulator's dtype, of B portfolios holding
# ``holdings`` (B, A+1) at the close of decision day ``t``
Decide = Callable[[int, torch.Tensor], torch.Tensor]


def simulate(decide: Decide, sim: PortfolioSim, first: int, last: int,
             rebalance: Rebalance, holdings: torch.Tensor, *, min_trade: float = 0.0) -> Path:
    """B portfolios from decision day ``first`` to ``last``, all through one simulator:
    ``decide`` names their targets on rebalance days (trades below ``min_trade`` are not
    made, untradable assets are not bought), they hold and drift on the others. The one
    loop every run goes through: a strategy's (B = 1), and a population's validation
    (B = its members on one training window)."""
    if not sim.first_decision <= first <= last <= sim.last_decision:
        raise ValueError(f"days {first}..{last} are outside the decision days "
                         f"{sim.first_decision}..{sim.last_decision}")
    due = rebalance_days(sim.dates[first:last + 1], rebalance)
    held, records = [], []
    for offset, t in enumerate(range(first, last + 1)):
        day = torch.full((len(holdings),), t, device=sim.device)
        if due[offset]:
            target = traded_target(sim, t, holdings, decide(t, holdings), min_trade)
        else:
            target = holdings
        scored = sim.score(day, holdings, target[:, None, :])
        held.append(target)
        records.append(torch.stack([scored.net_return[:, 0], scored.turnover[:, 0],
                                    scored.cost[:, 0]], 1))
        holdings = scored.holdings[:, 0]
    net_return, turnover, cost = torch.stack(records, 1).unbind(-1)
    return Path(net_return, turnover, cost, torch.stack(held, 1), holdings)


def starting_holdings(sim: PortfolioSim, first: int, start: Position | None) -> torch.Tensor:
    """All cash, or ``start``'s weights drifted from its close to the close of ``first``."""
    holdings = torch.zeros(1, sim.n_weights, dtype=sim.dtype, device=sim.device)
    if start is None:
        holdings[0, -1] = 1.0
        return holdings
    since = sim.day(start.date)
    if since > first or sim.dates[since] != pd.Timestamp(start.date):
        raise ValueError(f"holdings of {pd.Timestamp(start.date).date()} cannot start a run "
                         f"on {sim.dates[first].date()}")
    holdings[0] = torch.as_tensor(start.weights, dtype=sim.dtype, device=sim.device)
    grown = holdings * sim.relatives[since:first].prod(0)
    return grown / grown.sum()


def _ask(strategy: Strategy, decision: Decision) -> object:
    """The strategy's target; an attempt to edit the decision is named as such."""
    try:
        return strategy.weights(decision)
    except ValueError as exc:
        if "read-only" not in str(exc):
            raise
        raise StrategyError(f"strategy {strategy.name!r} on {decision.date.date()}: "
                            f"decision.holdings is read-only (edit a copy: "
                            f"decision.holdings.copy())") from exc


def checked_target(weights: object, name: str, date: pd.Timestamp,
                   n_assets: int) -> np.ndarray:
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
