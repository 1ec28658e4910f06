"""``SeedEnsemble``: one deployable strategy from several trained seeds of an agent.

Its target is the average of its members' targets, each asked at the same decision
(the ensemble's own holdings). Averaging the seeds' *returns* would be no strategy at
all (nobody can hold five portfolios that each trade from their own holdings); this one
can be held, and it is judged like any other strategy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.strategies.base import Decision, Strategy


class SeedEnsemble(Strategy):
    """The mean target of ``members`` (each fitted on the same windows)."""

    def __init__(self, members: list[Strategy], name: str) -> None:
        if not members:
            raise ValueError(f"{name}: an ensemble needs at least one member")
        self.members, self.name = members, name

    def fit(self, train: MarketPanel) -> None:
        for member in self.members:
            member.fit(train)

    def weights(self, decision: Decision) -> np.ndarray:
        return np.mean([np.asarray(m.weights(decision), float) for m in self.members], axis=0)

    @property
    def training_log(self) -> pd.DataFrame | None:
        return None  # each member's training is its own seed's run
