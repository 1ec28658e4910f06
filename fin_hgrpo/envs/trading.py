"""Trading over days: B portfolios run through one ``PortfolioSim``, deciding on
rebalance days and drifting with prices between them.

The day loop every run goes through, below everyone who runs one: a backtest's strategy
(B = 1, ``walkforward.engine``), a population's validation (B = its members on one
training window) and target weights after a backtest. The portfolio starts all in cash
at the close of the first decision day, or from a ``Position`` held at an earlier
close. On a rebalance day the decision names target weights and the portfolio trades to
them, except for trades smaller than ``min_trade`` (a no-trade band); on other days it
holds what it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.data.calendar import Rebalance, rebalance_days
from fin_hgrpo.envs.book import Book
from fin_hgrpo.envs.sim import PortfolioSim, apply_no_trade_band
from fin_hgrpo.errors import StrategyError

_WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Position:
    """Weights held at the close of ``date``: the assets, then cash."""

    date: pd.Timestamp
    weights: np.ndarray


@dataclass
class Path:
    """B portfolios' run, as tensors: (B, days) ``net_return``, ``turnover``, ``cost``
    (``impact`` the part of it that is market impact), ``borrow``, ``financing`` and
    ``capped`` (1 where a participation cap did not fill a trade in full), (B, days,
    A+1) ``weights`` held from each decision
    day's close, (B, A+1) ``end``, and (B,) ``ruin``: the day (0 is ``first``) each
    portfolio lost all its wealth, -1 if it never did."""

    net_return: torch.Tensor
    turnover: torch.Tensor
    cost: torch.Tensor
    borrow: torch.Tensor
    financing: torch.Tensor
    impact: torch.Tensor
    capped: torch.Tensor
    weights: torch.Tensor
    end: torch.Tensor
    ruin: torch.Tensor


# the targets (B, A+1) on the simplex, in the simulator's dtype, of B portfolios holding
# ``holdings`` (B, A+1) at the close of decision day ``t``
Decide = Callable[[int, torch.Tensor], torch.Tensor]


def simulate(decide: Decide, sim: PortfolioSim, first: int, last: int,
             rebalance: Rebalance, holdings: torch.Tensor, *, min_trade: float = 0.0) -> Path:
    """B portfolios from decision day ``first`` to ``last``, all through one simulator:
    ``decide`` names their targets on rebalance days (trades below ``min_trade`` are not
    made, untradable assets are not bought), they hold and drift on the others. A
    portfolio ruined on a day is closed: all cash, and no return or trade after it."""
    if not sim.first_decision <= first <= last <= sim.last_decision:
        raise ValueError(f"days {first}..{last} are outside the decision days "
                         f"{sim.first_decision}..{sim.last_decision}")
    due = rebalance_days(sim.dates[first:last + 1], rebalance)
    held, records = [], []
    ruin = torch.full((len(holdings),), -1, dtype=torch.long, device=sim.device)
    for offset, t in enumerate(range(first, last + 1)):
        day = torch.full((len(holdings),), t, device=sim.device)
        closed = ruin >= 0
        target, capped = holdings, torch.zeros_like(closed)
        if due[offset] and not closed.all():
            traded, capped = traded_target(sim, t, holdings, decide(t, holdings), min_trade,
                                           report_capped=True)
            target = torch.where(closed[:, None], holdings, traded)
        scored = sim.score(day, holdings, target[:, None, :])
        held.append(target)
        outcome = torch.stack([scored.net_return[:, 0], scored.turnover[:, 0],
                               scored.cost[:, 0], scored.borrow[:, 0],
                               scored.financing[:, 0], scored.impact[:, 0],
                               capped.to(scored.cost.dtype)], 1)
        records.append(torch.where(closed[:, None], 0.0, outcome))
        holdings = torch.where(closed[:, None], holdings, scored.holdings[:, 0])
        ruin = torch.where(~closed & scored.ruined[:, 0], offset, ruin)
    columns = torch.stack(records, 1).unbind(-1)
    return Path(*columns, torch.stack(held, 1), holdings, ruin)


def traded_target(sim: PortfolioSim, t: int, holdings: torch.Tensor, target: torch.Tensor,
                  min_trade: float = 0.0, *, report_capped: bool = False
                  ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """What B portfolios holding ``holdings`` end up with after trading to ``target``
    (both (B, A+1)) at the close of day ``t``: trades under ``min_trade`` are not made,
    the caps hold, untradable assets are not bought, and a participation cap fills
    what it can (``report_capped``: also which targets it did not fill in full)."""
    day = torch.full((len(holdings),), t, device=sim.device)
    if sim.long_short:  # targets are within the book; what the band keeps stays as held
        target = apply_no_trade_band(holdings, target, min_trade, signed=True)
    else:
        target = sim.constrain(apply_no_trade_band(holdings, target, min_trade))
    settled, wanted = sim.restrict(day, holdings, target[:, None, :])
    executed = sim.fill(day, settled, wanted)[:, 0]
    return (executed, sim.capped(day, settled, wanted[:, 0])) if report_capped else executed


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
    if sim.long_short:  # held through the days between, paying their carry
        for t in range(since, first):
            holdings = sim.score(torch.tensor([t], device=sim.device), holdings,
                                 holdings[:, None]).holdings[:, 0]
        return holdings
    grown = holdings * sim.relatives[since:first].prod(0)
    return grown / grown.sum()


def checked_target(weights: object, name: str, date: pd.Timestamp,
                   n_assets: int, book: Book | None = None) -> np.ndarray:
    """Weights as a float array on the simplex, or within a long-short ``book``'s limits
    (cash what is left), or an error naming strategy, date and the limit."""
    values = np.asarray(weights, dtype=float).reshape(-1)
    where = f"strategy {name!r} on {date.date()}"
    if values.shape != (n_assets + 1,):
        raise StrategyError(f"{where}: returned {values.size} weights, needs {n_assets + 1} "
                            f"(the assets, then cash)")
    if not np.isfinite(values).all():
        raise StrategyError(f"{where}: returned NaN or infinite weights")
    if book is not None:
        if abs(values.sum() - 1.0) > _WEIGHT_TOLERANCE:
            raise StrategyError(f"{where}: weights, cash included, must sum to 1 "
                                f"(sum {values.sum():.6g})")
        broken = book.violation(values[:n_assets])
        if broken is not None:
            raise StrategyError(f"{where}: {broken} (the book's limits, [constraints])")
        return np.r_[values[:n_assets], 1.0 - values[:n_assets].sum()]
    if values.min() < -_WEIGHT_TOLERANCE or abs(values.sum() - 1.0) > _WEIGHT_TOLERANCE:
        raise StrategyError(f"{where}: weights must be >= 0 and sum to 1 "
                            f"(min {values.min():.3g}, sum {values.sum():.6g})")
    values = np.clip(values, 0.0, None)
    return values / values.sum()
