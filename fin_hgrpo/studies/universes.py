"""Many universes, not one: the same walk-forward on random draws of the env's tickers.

One hand-picked universe is one draw of the assets a strategy could have been given.
``run_universes`` draws ``count`` universes of ``size`` tickers from the env's panel
(without repeats, seeded), runs the backtest spec on each (agents as populations, as
always), and ``summarise`` reports each strategy's Sharpe difference against the
baseline across them, as skfolio's ``MultipleRandomizedCV`` does for optimisers: the
mean over universes, the share of universes where it wins (and where its own interval
says so), and an interval over universes **and** days: a bootstrap that resamples the
universes and blocks of the days they share (one resample of the calendar for all of
them: a day's luck is common to every universe), so that it is as wide as both sources
of luck make it. Universes drawn from one panel share assets and days, so they are not
independent draws: the interval is the spread of this panel's universes, not of every
market's.

``<out>/universes.csv`` lists each universe's tickers, ``u<k>/`` holds its backtest's
result files (``fin-hgrpo report <out>/u<k>`` draws its page), ``by_universe.csv`` every
strategy's figures in each, ``summary.csv`` the distribution and ``report.html`` the
page. A universe whose folder is complete is not run again: a killed run resumes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import (
    atomic_directory,
    atomic_write,
    atomic_write_text,
    check_replaceable,
    read_csv,
)
from fin_hgrpo.measures.performance import PERIODS, excess
from fin_hgrpo.reports.html import CSS, image, numbers_table, png
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.results import BacktestResult

RESAMPLES = 1000
BLOCK = 20  # days per bootstrap block, as the studentized interval's default
LEVEL = 0.95


def draw_universes(tickers: list[str], count: int, size: int, seed: int) -> list[list[str]]:
    """``count`` distinct sets of ``size`` of ``tickers`` (each in the panel's order),
    drawn at random with ``seed``; refused when fewer than two, or than ``count``,
    distinct sets exist."""
    if count < 2:
        raise SpecError(f"--universes {count}: many universes means at least 2 (a bootstrap "
                        "over universes needs more than one)")
    if not 2 <= size <= len(tickers):
        raise SpecError(f"--size {size}: universes of 2 to {len(tickers)} tickers can be "
                        f"drawn from the env's {len(tickers)}")
    if math.comb(len(tickers), size) < count:
        raise SpecError(f"--universes {count}: only {math.comb(len(tickers), size)} distinct "
                        f"universes of {size} exist among {len(tickers)} tickers")
    rng = np.random.default_rng(seed)
    found: list[tuple[int, ...]] = []
    for _ in range(100 * count):
        chosen = tuple(sorted(rng.choice(len(tickers), size, replace=False).tolist()))
        if chosen not in found:
            found.append(chosen)
        if len(found) == count:
            break
    return [[tickers[i] for i in chosen] for chosen in found]


def run_universes(spec: BacktestSpec, out: str | Path,
                  run: Callable[[BacktestSpec], BacktestResult], *,
                  count: int, size: int, seed: int = 0) -> pd.DataFrame:
    """Draw the universes, run ``run`` (a backtest) on each not already in ``out``, and
    write every file the module lists. Returns the summary."""
    out = Path(out)
    check_replaceable(out, "universes.csv")  # before any work, not after it
    if spec.baseline is None:
        raise SpecError(f"{spec.name}: many universes compare every strategy with the "
                        "baseline: set baseline (e.g. equal_weight)")
    pool = list(spec.env_spec().load_panel().tickers)
    universes = draw_universes(pool, count, size, seed)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"universe": [f"u{k:02d}" for k in range(len(universes))],
                          "tickers": [" ".join(u) for u in universes]})
    _check_resumable(out, table)
    atomic_write(out / "universes.csv", lambda tmp: table.to_csv(tmp, index=False))
    results = {}
    for name, tickers in zip(table["universe"], universes, strict=True):
        folder = out / name
        if not (folder / "run.json").is_file():
            result = run(spec.model_copy(update={"universe": tickers,
                                                 "name": f"{spec.name}_{name}"}))
            with atomic_directory(folder, "run.json") as staging:
                result.write(staging)
        results[name] = BacktestResult.read(folder)
    by_universe = universe_rows(results)
    summary = summarise(results, seed=seed)
    atomic_write(out / "by_universe.csv", lambda tmp: by_universe.to_csv(tmp, index=False))
    atomic_write(out / "summary.csv", lambda tmp: summary.to_csv(tmp))
    atomic_write_text(out / "report.html", page(spec, table, by_universe, summary))
    return summary


def _check_resumable(out: Path, table: pd.DataFrame) -> None:
    """A folder holding universes drawn otherwise (another count, size, seed or panel)
    is not resumed from: its finished universes are not these."""
    previous = out / "universes.csv"
    if not previous.is_file():
        return
    drawn = read_csv(previous).set_index("universe")["tickers"]
    for name, tickers in zip(table["universe"], table["tickers"], strict=True):
        if (out / name / "run.json").is_file() and drawn.get(name) != tickers:
            raise SpecError(f"{out / name}: holds the universe {drawn.get(name)!r}, and this "
                            f"draw's {name} is {tickers!r}: run into another --out")


def universe_rows(results: dict[str, BacktestResult]) -> pd.DataFrame:
    """Each strategy's Sharpe and difference against the baseline (with its interval)
    in each universe."""
    rows = []
    for name, result in results.items():
        table = result.metrics
        for strategy, row in table.iterrows():
            rows.append({"universe": name, "strategy": strategy, "sharpe": row["sharpe"],
                         "difference": row.get("sharpe_vs_baseline", np.nan),
                         "low": row.get("sharpe_vs_baseline_low", np.nan),
                         "high": row.get("sharpe_vs_baseline_high", np.nan)})
    return pd.DataFrame(rows)


def summarise(results: dict[str, BacktestResult], *, resamples: int = RESAMPLES,
              block: int = BLOCK, seed: int = 0) -> pd.DataFrame:
    """Per strategy: the universes it ran in, its mean Sharpe difference against the
    baseline over them, the bootstrap interval over universes and days, the share of
    universes where it beat the baseline, and where its interval lay above or below 0."""
    universes = [_Universe(result) for result in results.values()]
    frame = pd.DataFrame({name: u.differences(np.arange(len(u.dates)))
                          for name, u in zip(results, universes, strict=True)})
    # the universes share a calendar: one resample of its days serves them all, so that
    # a day's luck, common to every universe, is not averaged away
    calendar = pd.DatetimeIndex(sorted(set().union(*(u.dates for u in universes))))
    rows = [u.dates.get_indexer(calendar) for u in universes]  # -1: a day it lacks
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        days = _blocks(len(calendar), rng, block)
        chosen = rng.choice(len(universes), len(universes), replace=True)
        boot.append(pd.concat([universes[k].differences(rows[k][days][rows[k][days] >= 0])
                               for k in chosen], axis=1).mean(axis=1))
    boot = pd.concat(boot, axis=1)
    alpha = (1 - LEVEL) / 2
    own = universe_rows(results)
    own = own.pivot(index="strategy", columns="universe") if len(own) else None
    rows = {}
    for strategy, values in frame.iterrows():
        low, high = np.nanquantile(boot.loc[strategy], [alpha, 1 - alpha])
        rows[strategy] = {
            "universes": int(values.notna().sum()), "mean_difference": values.mean(),
            "low": low, "high": high, "wins": float((values > 0).mean()),
            "significant_wins": np.nan if own is None else
            float((own.loc[strategy, "low"] > 0).mean()),
            "significant_losses": np.nan if own is None else
            float((own.loc[strategy, "high"] < 0).mean())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("strategy") \
        .sort_values("mean_difference", ascending=False)


def _blocks(days: int, rng: np.random.Generator, block: int) -> np.ndarray:
    """A moving-block resample of ``days`` day indices."""
    block = max(1, min(block, days // 5))
    starts = rng.integers(0, days - block + 1, size=-(-days // block))
    return (starts[:, None] + np.arange(block)).ravel()[:days]


class _Universe:
    """One universe's excess returns on the days every run has, as arrays, and which
    strategy owns each run: Sharpe differences on any resample of its days, fast."""

    def __init__(self, result: BacktestResult) -> None:
        returns = result.returns.dropna()
        self.values = excess(returns, result.rf).to_numpy()
        self.dates = pd.DatetimeIndex(returns.index)
        self.scale = np.sqrt(result.info.get("periods_per_year", PERIODS))
        owner = result.seeds["strategy"].reindex(returns.columns)
        self.strategies = list(dict.fromkeys(owner))
        # runs -> strategies: each strategy's Sharpe is the mean of its runs' (seeds')
        self.mean = (owner.to_numpy()[:, None] == np.array(self.strategies)[None]).astype(float)
        self.mean /= self.mean.sum(0)
        self.baseline = self.strategies.index(result.info["baseline"])

    def differences(self, days: np.ndarray) -> pd.Series:
        """Each strategy's Sharpe less the baseline's, on ``days``."""
        picked = self.values[days]
        sharpes = picked.mean(0) / picked.std(0, ddof=1) * self.scale @ self.mean
        gaps = pd.Series(sharpes - sharpes[self.baseline], index=self.strategies)
        return gaps.drop(self.strategies[self.baseline])


def page(spec: BacktestSpec, universes: pd.DataFrame, by_universe: pd.DataFrame,
         summary: pd.DataFrame) -> str:
    """The report: what ran, the summary across universes, a dot per universe."""
    baseline = spec.baseline
    title = f"{spec.name}: {len(universes)} universes"
    note = (f"Each universe is {len(universes['tickers'][0].split())} tickers drawn at "
            f"random from the env's panel; the same walk-forward ran on each. Mean "
            f"difference: the strategy's Sharpe less {baseline}'s, averaged over the "
            f"universes (an agent's figure is its seeds' mean). Interval: {LEVEL:.0%}, "
            f"bootstrap over universes and blocks of {BLOCK} of the days they share. "
            "Wins: the "
            "share of universes where it beat the baseline; significant: where that "
            "universe's own interval excludes 0. The universes share assets and days, so "
            "they are not independent draws of markets.")
    formats = {"universes": "d", "mean_difference": "+.2f", "low": "+.2f", "high": "+.2f",
               "wins": ".0%", "significant_wins": ".0%", "significant_losses": ".0%"}
    return "\n".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='note'>{html.escape(note)}</p>",
        f"<h2>Against {html.escape(str(baseline))} across universes</h2>",
        numbers_table(summary, formats),
        image(png(_dots(by_universe, summary, baseline)), "difference per universe"),
        "<h2>The universes</h2>",
        numbers_table(universes.set_index("universe"), {"tickers": ""}),
        "</body></html>"])


def _dots(by_universe: pd.DataFrame, summary: pd.DataFrame, baseline: str) -> Figure:
    """One dot per universe and strategy, the mean and its interval beside them."""
    order = list(summary.index)[::-1]
    fig = Figure(figsize=(9, 0.45 * len(order) + 1.5))
    ax = fig.subplots()
    for y, strategy in enumerate(order):
        values = by_universe.loc[by_universe["strategy"] == strategy, "difference"]
        ax.scatter(values, np.full(len(values), y), s=14, color="0.6", zorder=2)
        row = summary.loc[strategy]
        ax.plot([row["low"], row["high"]], [y, y], color="black", lw=2, zorder=3)
        ax.scatter([row["mean_difference"]], [y], color="black", s=30, zorder=4)
    ax.axvline(0.0, color="0.3", lw=1, ls="--")
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel(f"Sharpe minus {baseline}'s (grey: one universe; black: the mean and "
                  "its interval)")
    fig.tight_layout()
    return fig
