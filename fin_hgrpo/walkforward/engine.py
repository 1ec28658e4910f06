"""The backtest engine: a strategy run over a period through ``PortfolioSim``.

The same arithmetic as training (costs, drift of weights between rebalances, cash)
because it is the same simulator and the same day loop (``envs.trading.simulate``).
The portfolio starts all in cash at the close of the first decision day, or from a
``Position`` carried over from an earlier run (the next walk-forward fold starts with
what the last one held). A strategy sees read-only copies of the engine's state: it
cannot change what it is charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from fin_hgrpo.data import CASH
from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.envs.trading import (
    Decide,
    Position,
    checked_target,
    simulate,
    starting_holdings,
)
from fin_hgrpo.errors import StrategyError
from fin_hgrpo.strategies.base import Decision, Strategy


@dataclass
class StrategyRun:
    """What one run recorded.

    ``daily``: indexed by the date each return is earned (the close after the decision),
    columns ``net_return``, ``turnover`` (one-way), ``cost`` (and on a long-short book
    ``borrow`` and ``financing``: what its shorts and its loan cost, shares of wealth;
    with market impact ``impact``, the part of ``cost`` it is; with a participation cap
    ``capped``, 1 on a day whose trades it did not fill in full);
    ``weights``: the portfolio held from each decision day's close (target on rebalance
    days, drifted holdings otherwise); ``end``: the holdings at the close of the last
    return's day; ``ruin``: the day the book lost all its wealth, if it did.
    """

    daily: pd.DataFrame
    weights: pd.DataFrame
    end: Position
    ruin: pd.Timestamp | None = None

    @property
    def wealth(self) -> pd.Series:
        return (1.0 + self.daily["net_return"]).cumprod()


def run_strategy(strategy: Strategy, sim: PortfolioSim, first: int, last: int,
                 rebalance: Rebalance = "daily", *, start: Position | None = None,
                 min_trade: float = 0.0) -> StrategyRun:
    """Run ``strategy`` from decision day ``first`` to ``last`` (indices into ``sim``).

    ``start``: the holdings to begin with (default: all cash); held at an earlier close,
    they drift with prices up to ``first`` without trading. ``min_trade``: assets whose
    trade would be smaller than this share of wealth are not traded.
    """

    def decide(t: int, holdings: torch.Tensor) -> torch.Tensor:
        return ask(strategy, sim, t, holdings)

    [run] = run_decisions(decide, sim, first, last, rebalance, [start], min_trade=min_trade)
    return run


def run_decisions(decide: Decide, sim: PortfolioSim, first: int, last: int,
                  rebalance: Rebalance, starts: Sequence[Position | None], *,
                  min_trade: float = 0.0) -> list[StrategyRun]:
    """B portfolios, each from its own start (``starts``: holdings or None for cash),
    run together from ``first`` to ``last``: ``decide`` names the B targets of each
    rebalance day (``envs.trading.Decide``). Each portfolio's run is the one it would
    make alone: every step of the simulator is row by row."""
    dates = sim.dates
    holdings = torch.cat([starting_holdings(sim, first, start) for start in starts])
    path = simulate(decide, sim, first, last, rebalance, holdings, min_trade=min_trade)
    columns = ["net_return", "turnover", "cost"] + \
        (["borrow", "financing"] if sim.long_short else []) + \
        (["impact"] if sim.impact_scale is not None else []) + \
        (["capped"] if sim.fill_cap is not None else [])
    records = torch.stack([getattr(path, name) for name in columns], -1).numpy(force=True)
    held = path.weights.numpy(force=True)
    ends = path.end.numpy(force=True)
    runs = []
    for k in range(len(starts)):
        daily = pd.DataFrame(records[k], columns=columns, index=dates[first + 1:last + 2])
        weights = pd.DataFrame(held[k], index=dates[first:last + 1],
                               columns=[*sim.panel.tickers, CASH])
        end = Position(dates[last + 1], ends[k].copy())
        ruin = int(path.ruin[k])
        runs.append(StrategyRun(daily.rename_axis("date"), weights.rename_axis("date"), end,
                                daily.index[ruin] if ruin >= 0 else None))
    return runs


def ask(strategy: Strategy, sim: PortfolioSim, t: int, holdings: torch.Tensor) -> torch.Tensor:
    """The strategy's checked target (1, A+1) at the close of day ``t``, holding
    ``holdings`` (1, A+1), from what a ``Decision`` holds then."""
    current = holdings[0].numpy(force=True).copy()
    current.flags.writeable = False
    tradable = sim.tradable[t].numpy(force=True) if sim.masked else None
    day = torch.tensor([t], device=sim.device)
    decision = Decision(sim.dates[t], sim.panel.prices.iloc[:t + 1], current,
                        lambda: sim.observe(day), tradable, sim.book)
    target = checked_target(_ask(strategy, decision), strategy.name, sim.dates[t],
                            sim.n_assets, sim.book)
    return torch.as_tensor(target, dtype=sim.dtype, device=sim.device)[None]


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
