"""Is a strategy's Sharpe ratio different from the baseline's? An interval that says.

``sharpe_difference`` estimates Sharpe(strategy) - Sharpe(baseline), annualised, with a
studentized circular block bootstrap in the manner of Ledoit and Wolf (2008):

- Days are resampled in circular blocks of ``block`` days (paired: the same days for
  both series), which keeps short-range dependence and samples every day equally.
- Each resample's difference is divided by its own standard error, from the block sums
  of the delta-method influence of the two Sharpe ratios; the original difference's
  standard error is the Newey-West (Bartlett) estimate with the block length as its
  bandwidth. The interval is the difference plus and minus the bootstrap quantile of the
  absolute t-statistic times that standard error (symmetric percentile-t), which covers
  at its level where percentile intervals of Sharpe differences fall short.
- An agent brings several seeds (one row each): its figure is the mean of its seeds'
  Sharpe ratios, each resample also draws the seeds with replacement, and the standard
  error adds the seeds' variance over their number. Seed noise and market noise both
  widen the interval.

Short overlaps shrink the block to at most a fifth of the shared days; fewer than 10
shared days is an error. A resample whose standard error is next to nothing (an
agent's seeds that all held the baseline, drawn on their own) is left out of the
quantile: it would divide by almost zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_hgrpo.measures.performance import PERIODS, CashRate, cash_on

MIN_DAYS = 10
DEGENERATE = 1e-6  # a resample's standard error below this share of the original's
METHOD = ("studentized circular block bootstrap (Ledoit and Wolf 2008), seeds resampled "
          "with the days")


@dataclass(frozen=True)
class SharpeDifference:
    """Annualised Sharpe difference, its interval at ``level``, and how it was made."""

    difference: float
    low: float
    high: float
    standard_error: float
    block: int
    seeds: int
    days: int


def sharpe_difference(returns: np.ndarray | pd.Series | pd.DataFrame,
                      baseline: np.ndarray | pd.Series, *, block: int = 20,
                      resamples: int = 2000, level: float = 0.95, seed: int = 0,
                      rf: CashRate = 0.0, periods: int = PERIODS) -> SharpeDifference:
    """Sharpe of ``returns`` minus the Sharpe of ``baseline``, over the same days, with
    its interval. ``returns``: one series, or several seeds (an array seeds x days, or
    a frame days x seeds), whose figure is the mean of the seeds' Sharpes. A dated
    ``rf`` needs the baseline as a series, whose dates it is matched to."""
    values = returns.to_numpy(dtype=float).T if isinstance(returns, pd.DataFrame) \
        else np.asarray(returns, dtype=float)
    if isinstance(rf, pd.Series):
        if not isinstance(baseline, pd.Series):
            raise ValueError("a dated cash rate needs the baseline's dates: pass a series")
        rf = cash_on(baseline.index, rf)
    a = np.atleast_2d(values) - rf
    b = np.asarray(baseline, dtype=float).reshape(-1) - rf
    seeds, n = a.shape
    if b.shape != (n,):
        raise ValueError(f"returns have {n} days, the baseline {len(b)}")
    if n < MIN_DAYS:
        raise ValueError(f"a Sharpe difference needs at least {MIN_DAYS} shared days, got {n}")
    block = max(1, min(block, n // 5))
    scale = np.sqrt(periods)
    sr_a, psi_a = _sharpe_and_influence(a)
    sr_b, psi_b = _sharpe_and_influence(b[None])
    difference = float(sr_a.mean() - sr_b[0])
    if np.allclose(a, b[None], rtol=0, atol=0):
        return SharpeDifference(0.0, 0.0, 0.0, 0.0, block, seeds, n)
    se = np.sqrt(_newey_west(psi_a.mean(0) - psi_b[0], block) / n + _seed_variance(sr_a))

    rng = np.random.default_rng(seed)
    blocks = -(-n // block)
    t_stats = []
    for start in range(0, resamples, 250):
        count = min(250, resamples - start)
        starts = rng.integers(0, n, size=(count, blocks))
        days = ((starts[:, :, None] + np.arange(block)) % n).reshape(count, -1)
        drawn = rng.integers(0, seeds, size=(count, seeds))
        sample_a = a[drawn[:, :, None], days[:, None, :]]  # (count, seeds, blocks*block)
        sample_b = b[days]
        boot_a, infl_a = _sharpe_and_influence(sample_a)
        boot_b, infl_b = _sharpe_and_influence(sample_b)
        delta = boot_a.mean(-1) - boot_b
        market = _block_variance(infl_a.mean(-2) - infl_b, block) / days.shape[1]
        boot_se = np.sqrt(market + _seed_variance(boot_a))
        # a resample of days on which every seed drawn matches the baseline has no
        # error to studentize by (nearly zero, it would blow its t up): left out
        boot_se = np.where(boot_se > DEGENERATE * se, boot_se, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_stats.append(np.abs(delta - difference) / boot_se)
    t_stats = np.concatenate(t_stats)
    t_stats = t_stats[np.isfinite(t_stats)]
    half = float(np.quantile(t_stats, level)) * se if len(t_stats) else np.nan
    return SharpeDifference(difference * scale, (difference - half) * scale,
                            (difference + half) * scale, float(se * scale), block, seeds, n)


def _sharpe_and_influence(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-period Sharpe (sample std) along the last axis, and each period's influence
    on it: dSR/dmu (x - mu) + dSR/dm2 (x^2 - m2), with SR = mu / sqrt(m2 - mu^2)."""
    mu = x.mean(-1, keepdims=True)
    m2 = (x * x).mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(m2 - mu * mu, 0.0))
        influence = m2 / sd**3 * (x - mu) - mu / (2 * sd**3) * (x * x - m2)
        sharpe = mu[..., 0] / x.std(-1, ddof=1)
    return sharpe, influence


def _seed_variance(sharpes: np.ndarray) -> np.ndarray | float:
    """Variance of the mean of the seeds' Sharpes over the seeds (0 for one seed)."""
    k = sharpes.shape[-1]
    return sharpes.var(-1, ddof=1) / k if k > 1 else 0.0


def _newey_west(d: np.ndarray, bandwidth: int) -> float:
    """Long-run variance of ``d`` with Bartlett weights 1 - j / bandwidth."""
    d = d - d.mean()
    n = len(d)
    total = d @ d / n
    for lag in range(1, bandwidth):
        total += 2 * (1 - lag / bandwidth) * (d[lag:] @ d[:-lag]) / n
    return float(total)


def _block_variance(d: np.ndarray, block: int) -> np.ndarray:
    """Long-run variance of each resampled row from its blocks' sums (the bootstrap's
    own variance of the mean, times the length)."""
    count, length = d.shape
    centred = d - d.mean(-1, keepdims=True)
    sums = centred.reshape(count, length // block, block).sum(-1)
    return (sums**2).mean(-1) / block
