"""Does the best of many strategies beat a baseline, once the search is paid for?

Hansen's (2005) test of superior predictive ability (SPA) and Romano and Wolf's (2005)
stepwise multiple testing (StepM), both from ``arch.bootstrap`` with a stationary block
bootstrap: the loss of a day is its negative net return, so "better" means a higher
mean daily return than the baseline on the same days (not a higher Sharpe ratio). The
SPA's null is that no model beats the baseline; a small p-value says the best one does
even after trying them all. StepM names the models that beat it, with the family-wise
error held at ``size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from arch.bootstrap import SPA, StepM

from fin_hgrpo.measures.inference import MIN_DAYS


@dataclass(frozen=True)
class BestAgainstBaseline:
    """The SPA's p-values (lower, consistent, upper: Hansen's three nulls' recentrings;
    the consistent one is the test) and the models StepM finds better at ``size``."""

    p_lower: float
    p_consistent: float
    p_upper: float
    superior: list[str]
    models: int
    days: int
    block: int
    size: float


def best_against_baseline(models: pd.DataFrame, baseline: pd.Series, *, block: int = 20,
                          reps: int = 2000, size: float = 0.05,
                          seed: int = 0) -> BestAgainstBaseline:
    """SPA and StepM of ``models`` (daily net returns, one column each) against
    ``baseline``'s on the days all of them have."""
    both = pd.concat([models, baseline.rename("__baseline__")], axis=1).dropna()
    if len(both) < MIN_DAYS:
        raise ValueError(f"{len(both)} shared days; SPA needs at least {MIN_DAYS}")
    losses, benchmark = -both.drop(columns="__baseline__"), -both["__baseline__"]
    block = max(1, min(block, len(both) // 5))
    spa = SPA(benchmark, losses, block_size=block, reps=reps, seed=seed)
    spa.compute()
    stepm = StepM(benchmark, losses, size=size, block_size=block, reps=reps, seed=seed)
    stepm.compute()
    p = spa.pvalues
    return BestAgainstBaseline(float(p["lower"]), float(p["consistent"]), float(p["upper"]),
                               [str(m) for m in stepm.superior_models], losses.shape[1],
                               len(both), block, size)


__all__ = ["BestAgainstBaseline", "best_against_baseline"]
