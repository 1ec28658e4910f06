"""Covariance estimation for allocations and risk reports."""

from __future__ import annotations

import numpy as np


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Ledoit and Wolf's (2004) shrinkage of the sample covariance towards a scaled
    identity, with their estimate of the optimal intensity. ``returns``: (days, assets)."""
    x = returns - returns.mean(axis=0)
    n, p = x.shape
    sample = x.T @ x / n
    mu = np.trace(sample) / p
    target_distance = np.sum((sample - mu * np.eye(p)) ** 2) / p
    squares = x**2
    spread = (np.sum(squares.T @ squares) / n - np.sum(sample**2)) / (p * n)
    intensity = 0.0 if target_distance == 0 else min(spread, target_distance) / target_distance
    return (1.0 - intensity) * sample + intensity * mu * np.eye(p)
