"""Covariance estimation for allocations and risk reports."""

from __future__ import annotations

import numpy as np
from sklearn.covariance import ledoit_wolf as _ledoit_wolf


def ledoit_wolf(returns: np.ndarray) -> np.ndarray:
    """Ledoit and Wolf's (2004) shrinkage of the sample covariance towards a scaled
    identity, with their estimate of the optimal intensity (scikit-learn's, the one
    skfolio's optimisers use). ``returns``: (days, assets)."""
    return _ledoit_wolf(returns)[0]
