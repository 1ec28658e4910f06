"""The shrunk twins of an agent task's runs: ``<agent>_shrunk``, fold by fold.

Each of an agent task's columns (a seed's run, the ensemble) gets a twin that keeps
part of its tilt from the agent's base, as the strategy's ``shrink`` says
(``strategies.shrinkage``): at each fold's test start, kappa (``skill``: from the
active return's alpha against the base, or its mean) or the
active-share cap (``cap``) is set from the raw column's record on the test folds
before it, and nothing after. Beside them the task runs two kinds of portfolio it does
not report: the base itself, which the active return is measured against, and for
``cap`` each cap's portfolio, whose past Sharpe chooses the cap. Each is one
continuous investment over the test windows, its trades charged, like every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from fin_hgrpo.measures.performance import CashRate, excess
from fin_hgrpo.strategies.config import AgentStrategySpec
from fin_hgrpo.strategies.shrinkage import (
    ShrunkAgent,
    Tilt,
    best_cap,
    shrunk_name,
    skill_kappa,
)

if TYPE_CHECKING:
    from fin_hgrpo.walkforward.results import FoldResult

BASE = "base"  # the key of the unreported base portfolio


class Shrinking:
    """The twins of ``raw`` columns (their names as (strategy, column) pairs) and the
    portfolios that set their tilts, with every portfolio's past test returns."""

    def __init__(self, spec: AgentStrategySpec, raw: list[tuple[str, str]], base_kind,
                 rf: CashRate = 0.0) -> None:
        self.kind, self.caps, self.base_kind, self.rf = spec.shrink, spec.caps, base_kind, rf
        self.skill = spec.skill
        self.raw = raw
        self.past: dict[object, list[pd.Series]] = {}  # key -> test returns fold by fold

    def twins(self, raw_fits: list) -> tuple[list[tuple[str, str]], list, list]:
        """This fold's portfolios beyond the raw ones: the reported twins' names, then
        every portfolio's key and strategy (None where its agent's fit failed), twins
        first, each with its ``Tilt`` (in ``ShrunkAgent``)."""
        live = next((fit.strategy for fit in raw_fits if fit.strategy is not None), None)
        keys, strategies, names = [], [], []
        for k, ((strategy, column), fit) in enumerate(zip(self.raw, raw_fits, strict=True)):
            name = shrunk_name(strategy, column)
            names.append(name)
            keys.append(("twin", k))
            strategies.append(self._shrunk(fit.strategy, self.tilt(k), name[1]))
        keys.append(BASE)
        strategies.append(self._shrunk(live, Tilt(kappa=0.0), BASE))
        if self.kind == "cap":
            for k, fit in enumerate(raw_fits):
                for cap in self.caps:
                    if cap > 0.0:
                        keys.append(("cap", k, cap))
                        strategies.append(self._shrunk(fit.strategy, Tilt(cap=cap),
                                                       f"{self.raw[k][1]}_cap{cap:g}"))
        return names, keys, strategies

    def tilt(self, k: int) -> Tilt:
        """The tilt raw column ``k``'s twin keeps in the next fold, from the test folds
        recorded so far."""
        if self.kind == "skill":
            raw, base = self._stitched(("raw", k)), self._stitched(BASE)
            both = pd.concat([raw - base, excess(base, self.rf)], axis=1).dropna()
            active, market = both.to_numpy().T
            return Tilt(kappa=skill_kappa(active, market if self.skill == "alpha" else None))
        past = [self._stitched(BASE) if cap == 0.0 else self._stitched(("cap", k, cap))
                for cap in self.caps]
        return Tilt(cap=best_cap(self.caps, past, rf=self.rf))

    def record(self, key: object, result: FoldResult) -> None:
        """A portfolio's result on the fold just tested (raw columns as ``("raw", k)``)."""
        if result.daily is not None:
            self.past.setdefault(key, []).append(result.daily["net_return"])

    def _stitched(self, key: object) -> pd.Series:
        parts = self.past.get(key, [])
        return pd.concat(parts) if parts else pd.Series(dtype=float)

    def _shrunk(self, agent, tilt: Tilt, name: str) -> ShrunkAgent | None:
        return None if agent is None else ShrunkAgent(agent, self.base_kind, tilt, name)


def kept(strategy: ShrunkAgent | None) -> tuple[float | None, float | None]:
    """A twin's kappa (``skill``) or cap (``cap``) for ``folds.csv``, None for the
    other (both where its agent's fit failed)."""
    if strategy is None:
        return None, None
    tilt = strategy.tilt
    return (tilt.kappa, None) if tilt.cap is None else (None, tilt.cap)
