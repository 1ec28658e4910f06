"""The portfolio a risk report is about: a strategy of a backtest's results, a weights
file (dates x tickers), or a returns file, with the prices its measures need.

``SOURCE`` forms: ``RESULTS_DIR:STRATEGY`` (an agent's name means its seed ensemble if
the backtest ran one, else its first seed), ``weights.csv`` (a date column, then one
column per ticker and optionally ``cash``; each row sums to 1 and is held, rebalanced
daily, until the next row), ``returns.csv`` (a date
column and one column of daily returns). Prices come from the results' env spec, or
from ``--env`` for a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fin_hgrpo.data import CASH
from fin_hgrpo.data.validation import check_dates
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import DataError, SpecError
from fin_hgrpo.io import read_csv, read_json, read_result_csv
from fin_hgrpo.trust import check_data_file, check_name

WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Portfolio:
    """``weights``: held from each close (dates x tickers and cash), None for a returns
    file; ``returns``: realised daily returns; ``prices``: adjusted closes of every
    ticker held; ``benchmark``: the benchmark's daily returns and ``benchmark_prices``
    its closes, where known; ``periods``: bars per year."""

    name: str
    source: str
    returns: pd.Series
    periods: int
    weights: pd.DataFrame | None = None
    prices: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    benchmark_prices: pd.Series | None = None
    benchmark_name: str | None = None


def load_portfolio(source: str, env: str | None = None) -> Portfolio:
    """The portfolio ``source`` names; errors name the file, ticker or date at fault
    before any work."""
    folder, _, strategy = source.rpartition(":")
    if folder and Path(folder).is_dir():
        return _from_results(Path(folder), strategy, env)
    path = Path(source)
    if path.is_dir():
        raise SpecError(f"{source}: a results folder needs a strategy: {source}:NAME")
    if not path.is_file():
        raise SpecError(f"{source}: no such file or results folder")
    if env is None:
        raise SpecError(f"{source}: a weights or returns file needs --env SPEC for prices")
    table = read_csv(path, index_col=0, parse_dates=True)
    if table.empty or not isinstance(table.index, pd.DatetimeIndex):
        raise DataError(f"{path}: needs a date column, then data")
    check_dates(table.index, str(path))
    spec = EnvSpec.load(env)
    panel = spec.load_panel()
    periods = spec.periods(panel)
    if len(table.columns) == 1:
        returns = _checked_returns(table.iloc[:, 0], panel.dates, path)
        return Portfolio(path.stem, str(path), returns.rename(path.stem), periods)
    weights = _checked_weights(table, panel.prices, path, spec.constraints.long_short)
    tickers = [c for c in weights.columns if c != CASH]
    days = panel.prices.index[panel.prices.index >= weights.index[0]]
    held = weights.reindex(days, method="ffill")  # each row held until the next one
    relatives = panel.prices[tickers].pct_change().reindex(days)
    returns = (held[tickers].shift(1) * relatives).sum(axis=1).iloc[1:]
    return Portfolio(path.stem, str(path), returns.rename(path.stem), periods, held,
                     panel.prices[tickers])


MAX_TYPICAL_RETURN = 0.1  # a median daily move beyond 10%: percentages or prices


def _checked_returns(column: pd.Series, dates: pd.DatetimeIndex, path: Path) -> pd.Series:
    """Daily returns as fractions, one per trading day of the env's data from the first
    to the last, none below -100%; refused otherwise, naming the date at fault."""
    returns = pd.to_numeric(column, errors="coerce")
    text = returns.isna() & column.notna()
    if text.any():
        raise DataError(f"{path}: {column[text].iloc[0]!r} on {column.index[text][0].date()} "
                        "is not a number")
    returns = returns.dropna()
    outside = returns.index.difference(dates)
    if len(outside):
        raise DataError(f"{path}: {outside[0].date()} is not a trading day of the env's "
                        "data: returns are per trading day")
    expected = dates[(dates >= returns.index[0]) & (dates <= returns.index[-1])]
    skipped = expected.difference(returns.index)
    if len(skipped):
        raise DataError(f"{path}: no return for {skipped[0].date()} ({len(skipped)} trading "
                        "days skipped): returns must be daily, each the day's own")
    if returns.abs().median() > MAX_TYPICAL_RETURN:
        raise DataError(f"{path}: a typical daily return of {returns.abs().median():.3g}: "
                        "these look like percentages or prices; give returns as fractions "
                        "(0.01 for 1%)")
    if (returns <= -1).any():
        raise DataError(f"{path}: a return of {returns.min():g} on "
                        f"{returns.idxmin().date()} loses more than everything")
    return returns


def _from_results(folder: Path, strategy: str, env: str | None) -> Portfolio:
    info_path = folder / "run.json"
    if not info_path.is_file():
        raise SpecError(f"{folder}: not a backtest results folder (no run.json)")
    info = read_json(info_path, "env")
    returns = _dated(folder / "returns.csv")
    run = check_name(_run(folder, strategy, returns.columns), f"{folder}/returns.csv")
    held = folder / "weights" / f"{run}.csv"
    if not held.is_file():
        raise DataError(f"{held}: missing; the run's weights are what its risk is measured on")
    weights = _dated(held)
    spec = EnvSpec.load(env or check_data_file(info["env"], f"{info_path}"))
    panel = spec.load_panel()
    tickers = [t for t in weights.columns if t != CASH]
    prices = _prices(spec, panel.prices, tickers, folder)
    benchmark_name = info.get("benchmark")
    benchmark = benchmark_prices = None
    if benchmark_name and benchmark_name in returns and benchmark_name != run:
        benchmark = returns[benchmark_name].dropna()
        bench_weights = folder / "weights" / f"{benchmark_name}.csv"
        if bench_weights.is_file():
            held = [c for c in pd.read_csv(bench_weights, nrows=0).columns[1:] if c != CASH]
            if len(held) == 1:
                benchmark_prices = _prices(spec, panel.prices, held, folder)[held[0]]
    return Portfolio(run, f"{folder}:{strategy}", returns[run].dropna(), int(
        info.get("periods_per_year") or spec.periods(panel)), weights, prices, benchmark,
        benchmark_prices, benchmark_name)


def _dated(path: Path) -> pd.DataFrame:
    """A result file indexed by date, refused by name when truncated or edited (cut
    mid-line, a first column that is not dates, or no number in it)."""
    table = read_result_csv(path, index_col=0, parse_dates=True)
    if table.empty or table.isna().all().all():
        raise DataError(f"{path}: not the dated table a backtest writes (truncated or "
                        "edited?); run the backtest again")
    return table


def _run(folder: Path, strategy: str, runs: pd.Index) -> str:
    if strategy in runs:
        return strategy
    for candidate in (f"{strategy}_ensemble", f"{strategy}_seed0"):
        if candidate in runs:
            return candidate
    seeds = sorted(r for r in runs if r.startswith(f"{strategy}_seed"))
    if seeds:
        return seeds[0]
    raise SpecError(f"{folder}: no strategy {strategy!r}; choose from {', '.join(runs)}")


def _prices(spec: EnvSpec, prices: pd.DataFrame, tickers: list[str],
            folder: Path) -> pd.DataFrame:
    """Closes of ``tickers``: from the env's panel, or its source asked for them."""
    if set(tickers) <= set(prices.columns):
        return prices[tickers]
    other = spec.load_tickers(tickers)
    missing = sorted(set(tickers) - set(other.tickers))
    if missing:
        raise DataError(f"{folder}: no prices for {missing} in {spec.data.source}")
    return other.prices[tickers]


def _checked_weights(table: pd.DataFrame, prices: pd.DataFrame, path: Path,
                     signed: bool = False) -> pd.DataFrame:
    """The weights table, checked: known tickers, trading dates, each day summing to 1,
    and >= 0 unless ``signed`` (a long-short book's)."""
    tickers = [c for c in table.columns if c != CASH]
    unknown = sorted(set(tickers) - set(prices.columns))
    if unknown:
        raise DataError(f"{path}: tickers {unknown} are not in the prices "
                        f"({', '.join(prices.columns)})")
    outside = table.index.difference(prices.index)
    if len(outside):
        raise DataError(f"{path}: date {outside[0].date()} is not a trading date of the "
                        f"prices ({prices.index[0].date()} .. {prices.index[-1].date()})")
    weights = table.astype(float).fillna(0.0)
    if CASH not in weights:
        weights[CASH] = 0.0
    sums = weights.sum(axis=1)
    bad = (sums - 1.0).abs() > WEIGHT_TOLERANCE
    short = (weights < -WEIGHT_TOLERANCE).any(axis=1) & (not signed)
    if bad.any() or short.any():
        date = sums.index[bad.argmax()] if bad.any() else weights.index[short.argmax()]
        rule = "sum to 1" if signed else "be >= 0 and sum to 1"
        raise DataError(f"{path}: weights on {date.date()} must {rule} (sum "
                        f"{sums[date]:.6g})" + ("" if signed else "; shorts need an env "
                                                 "with constraints.long_short = true"))
    return weights
