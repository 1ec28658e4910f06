"""Strategies: the ``Strategy`` interface and the classical baselines.

Agents as strategies live in ``fin_hgrpo.strategies.rl`` (``RLStrategy``), imported on
their own so that a classical strategy runs without loading torch.
"""

from fin_hgrpo.allocation import cash_weights, equal_weights
from fin_hgrpo.strategies.base import Decision, Strategy
from fin_hgrpo.strategies.baselines import (
    Benchmark,
    BuyAndHold,
    Cash,
    EqualRiskContribution,
    EqualWeight,
    HierarchicalRiskParity,
    InverseVolatility,
    LongShortMinVariance,
    LongShortMomentum,
    LongShortTangency,
    MaxSharpe,
    MinVariance,
    Momentum,
)

__all__ = [
    "Benchmark",
    "BuyAndHold",
    "Cash",
    "Decision",
    "EqualRiskContribution",
    "EqualWeight",
    "HierarchicalRiskParity",
    "InverseVolatility",
    "LongShortMinVariance",
    "LongShortMomentum",
    "LongShortTangency",
    "MaxSharpe",
    "MinVariance",
    "Momentum",
    "Strategy",
    "cash_weights",
    "equal_weights",
]
