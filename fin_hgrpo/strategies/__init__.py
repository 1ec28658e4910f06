"""Strategies: the ``Strategy`` interface, classical baselines and the RL strategy."""

from fin_hgrpo.strategies.base import Decision, Strategy, cash_weights, equal_weights
from fin_hgrpo.strategies.baselines import (
    Benchmark,
    BuyAndHold,
    EqualWeight,
    InverseVolatility,
    MaxSharpe,
    MinVariance,
    Momentum,
    ledoit_wolf,
)
from fin_hgrpo.strategies.rl import RLStrategy

__all__ = [
    "Benchmark",
    "BuyAndHold",
    "Decision",
    "EqualWeight",
    "InverseVolatility",
    "MaxSharpe",
    "MinVariance",
    "Momentum",
    "RLStrategy",
    "Strategy",
    "cash_weights",
    "equal_weights",
    "ledoit_wolf",
]
