"""How likely is the winner of a search to be overfit? The probability of backtest
overfitting (PBO) by combinatorially symmetric cross-validation (CSCV; Bailey, Borwein,
López de Prado and Zhu, 2017).

The days are cut into S blocks in order. For each of the C(S, S/2) ways to choose
half the blocks as "in sample", the configuration with the best in-sample score is
taken and its out-of-sample rank among all N configurations is noted as
w = rank / (N + 1). Its logit, log(w / (1 - w)), is at most 0 when the in-sample
winner is at or below the median out of sample. PBO is the share of halvings where
that happens: about 0.5 when the search found nothing but luck, near 0 when its
winner is a winner, near 1 when in-sample success foretells failure.

A configuration's score on a set of days is its Sharpe ratio there, or, with several
seeds, the mean over seeds of each seed's Sharpe (one seed is what would be deployed).
With fewer than about 10 configurations the rank is coarse, and one neighbour can flip
the verdict: read PBO over a handful of candidates as a rough figure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures.performance import CashRate, cash_on

FEW_CONFIGURATIONS = 10  # below this, PBO's ranks are coarse (stated with the figure)


@dataclass(frozen=True)
class Overfitting:
    """PBO and what goes with it: ``logits`` (one per halving), the in-sample winner's
    in- and out-of-sample scores (``is_scores``, ``oos_scores``), the slope and
    intercept of out-of-sample on in-sample score for the winners (performance
    degradation: a slope below 0 says the better it looked, the worse it did), and the
    probability that the winner lost money out of sample."""

    pbo: float
    logits: np.ndarray
    is_scores: np.ndarray
    oos_scores: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    configurations: int
    blocks: int
    halvings: int
    dominance_first: float
    dominance_second: float

    def summary(self) -> dict:
        return {"pbo": self.pbo, "configurations": self.configurations,
                "blocks": self.blocks, "halvings": self.halvings,
                "degradation_slope": self.degradation_slope,
                "degradation_intercept": self.degradation_intercept,
                "probability_of_loss": self.probability_of_loss,
                "dominance_first": self.dominance_first,
                "dominance_second": self.dominance_second,
                "coarse": self.configurations < FEW_CONFIGURATIONS}


MAX_BLOCKS = 20  # C(20, 10) = 184,756 halvings; C(30, 15) took 1.4 GB


def pbo(returns: np.ndarray, blocks: int = 16, rf: float | np.ndarray = 0.0) -> Overfitting:
    """PBO of the configurations in ``returns``: daily returns, (days, configurations)
    or (days, configurations, seeds). ``blocks``: S, even, at least 2. ``rf``: cash's
    return, one for all days or one per day."""
    values = np.asarray(returns, dtype=float)
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3 or values.shape[1] < 2:
        raise ValueError(f"returns must be (days, configurations[, seeds]) with at least "
                         f"two configurations, got shape {np.shape(returns)}")
    if not 2 <= blocks <= MAX_BLOCKS or blocks % 2:
        raise SpecError(f"blocks must be even, 2 to {MAX_BLOCKS} (C(S, S/2) halvings each "
                        f"scored: {MAX_BLOCKS} makes 184,756), got {blocks}")
    if values.shape[0] < 2 * blocks:
        raise SpecError(f"{values.shape[0]} days are too few for {blocks} blocks")
    if not np.isfinite(values).all():
        raise ValueError("returns hold NaN or infinite values: keep the days every "
                         "configuration has")
    excess = values - np.reshape(rf, (-1, 1, 1))
    parts = np.array_split(np.arange(len(excess)), blocks)
    count = np.array([len(p) for p in parts], dtype=float)  # (S,)
    total = np.stack([excess[p].sum(0) for p in parts])  # (S, N, R)
    square = np.stack([(excess[p] ** 2).sum(0) for p in parts])
    halves = np.array([[s in chosen for s in range(blocks)] for chosen in
                       itertools.combinations(range(blocks), blocks // 2)], dtype=float)
    inside = _scores(halves, count, total, square)  # (C, N)
    outside = _scores(1.0 - halves, count, total, square)
    winner = np.argmax(inside, axis=1)
    rows = np.arange(len(halves))
    n = values.shape[1]
    ranks = np.array([_rank(outside[c], winner[c]) for c in rows])  # 1 = worst .. N = best
    relative = ranks / (n + 1)
    logits = np.log(relative / (1 - relative))
    is_best, oos_best = inside[rows, winner], outside[rows, winner]
    slope, intercept = (np.polyfit(is_best, oos_best, 1) if np.ptp(is_best) > 0
                        else (np.nan, float(np.mean(oos_best))))
    first, second = dominance(oos_best, outside.ravel())
    return Overfitting(float(np.mean(logits <= 0)), logits, is_best, oos_best, float(slope),
                       float(intercept), float(np.mean(oos_best < 0)), n, blocks, len(halves),
                       first, second)


def dominance(chosen: np.ndarray, every: np.ndarray) -> tuple[float, float]:
    """The largest gaps F_chosen - F_every of the empirical distribution functions, and
    of their integrals from the lowest score up (first- and second-order dominance of
    ``chosen`` over ``every`` hold where each is at most 0)."""
    grid = np.unique(np.concatenate([chosen, every]))
    gap = (np.searchsorted(np.sort(chosen), grid, side="right") / len(chosen)
           - np.searchsorted(np.sort(every), grid, side="right") / len(every))
    integral = np.concatenate([[0.0], np.cumsum(gap[:-1] * np.diff(grid))])
    return float(gap.max()), float(integral.max())


def pbo_of_runs(returns: pd.DataFrame, configurations: list[list[str]], *,
                blocks: int = 16, rf: CashRate = 0.0) -> tuple[Overfitting, int] | None:
    """PBO of configurations given as columns of ``returns`` (each configuration a list
    of its seeds' columns, as many for each), on the days all of them have, with at
    most ``blocks`` blocks (fewer when the days are few); and the number of those days.
    None when fewer than four days are shared."""
    shared = returns[[c for columns in configurations for c in columns]].dropna()
    if len(shared) < 4:
        return None
    cube = shared.to_numpy().reshape(len(shared), len(configurations), -1)
    return pbo(cube, blocks=min(blocks, 2 * (len(shared) // 4)),
               rf=cash_on(shared.index, rf)), len(shared)


def _scores(halves: np.ndarray, count: np.ndarray, total: np.ndarray,
            square: np.ndarray) -> np.ndarray:
    """Each halving's score of each configuration: the mean over seeds of the daily
    Sharpe ratio on the halving's blocks (from the blocks' sums, sums of squares and
    lengths)."""
    days = halves @ count  # (C,)
    sums = np.einsum("cs,snr->cnr", halves, total)
    squares = np.einsum("cs,snr->cnr", halves, square)
    mean = sums / days[:, None, None]
    variance = (squares - days[:, None, None] * mean ** 2) / (days[:, None, None] - 1)
    std = np.sqrt(np.maximum(variance, 0.0))
    sharpe = np.divide(mean, std, out=np.zeros_like(mean), where=std > 0)
    return sharpe.mean(axis=2)


def _rank(scores: np.ndarray, k: int) -> float:
    """The rank of ``scores[k]`` among ``scores`` (1 = lowest; ties share the mean)."""
    below = np.sum(scores < scores[k])
    tied = np.sum(scores == scores[k])
    return below + (tied + 1) / 2


__all__ = ["FEW_CONFIGURATIONS", "Overfitting", "dominance", "pbo", "pbo_of_runs"]
