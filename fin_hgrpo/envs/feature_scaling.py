"""Causal standardisation of feature values (T, A, F): each day's value is scaled by
statistics of that day and the days before it only.

- ``pooled``: one expanding mean and deviation per feature over all assets and days so
  far. One crash day in one stock widens every stock's scale for good, and a
  later window (a test year) sees a scale that training never saw.
- ``per_asset``: per asset and feature, an exponentially weighted mean and deviation
  (``halflife`` days) that forget, updated by values winsorised at ``winsor``
  deviations of the estimates before them: a crash day is reported in full (and then
  clipped by the simulator) but moves its own asset's scale by a bounded amount, and
  no other asset's.

Both start on the panel's first day, so a training window and the test window after
it (both built from the same start) see identical values on the days they share.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Scaling = Literal["pooled", "per_asset"]


def standardise(values: np.ndarray, method: Scaling, *, halflife: int = 126,
                winsor: float = 5.0) -> np.ndarray:
    """``values`` (T, A, F), NaN where not yet defined, standardised by ``method``."""
    if method == "pooled":
        return pooled_zscore(values)
    if method == "per_asset":
        return asset_zscore(values, halflife=halflife, winsor=winsor)
    raise ValueError(f"feature scaling must be 'pooled' or 'per_asset', got {method!r}")


def pooled_zscore(values: np.ndarray) -> np.ndarray:
    """Each feature by its mean and std over all assets and days up to t."""
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)
    count = np.cumsum(present.sum(axis=1), axis=0)  # (T, F)
    total = np.cumsum(filled.sum(axis=1), axis=0)
    squares = np.cumsum((filled**2).sum(axis=1), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return (values - mean[:, None, :]) / np.where(std > 0, std, np.nan)[:, None, :]


def asset_zscore(values: np.ndarray, *, halflife: int, winsor: float) -> np.ndarray:
    """Each (asset, feature) by its own exponentially weighted, winsorised mean and
    deviation up to t; NaN until an asset's feature has a value and a spread."""
    if halflife < 1 or winsor <= 0:
        raise ValueError(f"per_asset scaling needs halflife >= 1 and winsor > 0, got "
                         f"{halflife} and {winsor}")
    alpha = 1.0 - 0.5 ** (1.0 / halflife)
    mean = np.full(values.shape[1:], np.nan)
    var = np.full(values.shape[1:], np.nan)
    mass = np.zeros(values.shape[1:])  # weight the variance has gathered (1 in the limit)
    out = np.full(values.shape, np.nan)
    for t, x in enumerate(values):
        present = np.isfinite(x)
        started = np.isfinite(mean)
        first = present & ~started
        mean = np.where(first, x, mean)
        var = np.where(first, 0.0, var)
        update = present & started
        if update.any():
            spread = np.sqrt(np.where(mass > 0, var / np.maximum(mass, 1e-300), 0.0))
            bound = winsor * spread
            tamed = np.where(bound > 0, np.clip(x, mean - bound, mean + bound), x)
            step = np.where(update, tamed - mean, 0.0)
            mean = mean + alpha * step
            var = np.where(update, (1.0 - alpha) * (var + alpha * step**2), var)
            mass = np.where(update, (1.0 - alpha) * mass + alpha, mass)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.sqrt(var / mass)  # debiased, as Adam debiases its moments
            out[t] = np.where(present & (var > 0), (x - mean) / scale, np.nan)
    return out
