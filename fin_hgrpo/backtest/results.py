"""A backtest's results: gathered from the folds, written to and read from a folder.

``backtests/results/<name>/`` holds ``returns.csv`` (daily net returns, one column per
strategy, stitched across folds), ``weights/<strategy>.csv``, ``turnover.csv``,
``metrics.csv``, ``folds.csv``, ``training/<strategy>_fold<k>.csv`` (agents) and
``errors.txt`` (tracebacks of strategies that failed in a fold) and ``run.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.backtest import metrics
from fin_hgrpo.backtest.inference import sharpe_difference
from fin_hgrpo.backtest.walkforward import Fold
from fin_hgrpo.errors import SpecError


@dataclass
class FoldResult:
    """One strategy on one fold: the engine's record, or the error that stopped it."""

    column: str
    fold: int
    seed: int
    daily: pd.DataFrame | None  # net_return, turnover, cost by date
    weights: pd.DataFrame | None
    training: pd.DataFrame | None  # agents: metrics per training iteration
    error: str | None
    seconds: float


@dataclass
class BacktestResult:
    """Everything a report shows; ``returns`` columns are the strategies' names."""

    returns: pd.DataFrame
    turnover: pd.DataFrame
    weights: dict[str, pd.DataFrame]
    metrics: pd.DataFrame
    folds: pd.DataFrame
    training: dict[str, pd.DataFrame] = field(default_factory=dict)  # "<name>_fold<k>"
    errors: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # spec name, benchmark, baseline, timing


def gather(spec, folds: list[Fold], results: list[FoldResult], *,
           seconds: float) -> BacktestResult:
    """Stitch fold results into per-strategy series and compute the metrics."""
    columns = list(dict.fromkeys(r.column for r in results))
    by_fold = {f.index: f for f in folds}
    daily = {c: [r.daily for r in results if r.column == c and r.daily is not None]
             for c in columns}
    returns = pd.DataFrame({c: pd.concat(d)["net_return"] for c, d in daily.items() if d})
    turnover = pd.DataFrame({c: pd.concat(d)["turnover"] for c, d in daily.items() if d})
    weights = {c: pd.concat([r.weights for r in results if r.column == c
                             and r.weights is not None]) for c in returns}
    fold_rows, errors, training = [], [], {}
    for r in results:
        fold = by_fold[r.fold]
        test = None if r.daily is None else r.daily["net_return"]
        fold_rows.append({
            "fold": r.fold, "strategy": r.column, "seed": r.seed,
            "train_start": fold.train_start.date(), "train_end": fold.train_end.date(),
            "test_start": fold.test_start.date(), "test_end": fold.test_end.date(),
            "sharpe": np.nan if test is None else metrics.sharpe(test),
            "total_return": np.nan if test is None else float((1 + test).prod() - 1),
            "seconds": round(r.seconds, 2), "error": "" if r.error is None else
            r.error.strip().splitlines()[-1],
        })
        if r.error is not None:
            errors.append(f"{r.column}, fold {r.fold} ({fold}):\n{r.error}")
        if r.training is not None:
            training[f"{r.column}_fold{r.fold}"] = r.training
    returns = returns.rename_axis("date")
    info = {"name": spec.name, "benchmark": _present(spec.benchmark, returns),
            "baseline": _present(spec.baseline, returns), "seconds": round(seconds, 1),
            "folds": len(folds), "rebalance": spec.rebalance, "env": spec.env}
    table = strategy_metrics(returns, turnover, info["benchmark"], info["baseline"])
    return BacktestResult(returns, turnover.rename_axis("date"), weights, table,
                          pd.DataFrame(fold_rows), training, errors, info)


def strategy_metrics(returns: pd.DataFrame, turnover: pd.DataFrame, benchmark: str | None,
                     baseline: str | None) -> pd.DataFrame:
    """``metrics.summarize`` plus each strategy's Sharpe minus the baseline's, with its
    bootstrap 95% interval (on the dates both have returns)."""
    table = metrics.summarize(returns, turnover=turnover, benchmark=benchmark)
    if baseline is not None:
        rows = {}
        for name in returns:
            both = pd.concat([returns[name], returns[baseline]], axis=1).dropna()
            interval = sharpe_difference(both.iloc[:, 0], both.iloc[:, 1])
            rows[name] = {"sharpe_vs_baseline": interval.difference,
                          "sharpe_vs_baseline_low": interval.low,
                          "sharpe_vs_baseline_high": interval.high}
        table = table.join(pd.DataFrame.from_dict(rows, orient="index"))
    return table


def _present(name: str | None, returns: pd.DataFrame) -> str | None:
    return name if name is not None and name in returns else None


def write_results(result: BacktestResult, folder: Path) -> None:
    """Write the result files into ``folder`` (``io.atomic_directory`` gives a staging one)."""
    folder.mkdir(parents=True, exist_ok=True)
    result.returns.to_csv(folder / "returns.csv")
    result.turnover.to_csv(folder / "turnover.csv")
    result.metrics.to_csv(folder / "metrics.csv")
    result.folds.to_csv(folder / "folds.csv", index=False)
    for name, frames in (("weights", result.weights), ("training", result.training)):
        (folder / name).mkdir(exist_ok=True)
        for key, frame in frames.items():
            frame.to_csv(folder / name / f"{key}.csv", index=name == "weights")
    (folder / "errors.txt").write_text("\n\n".join(result.errors))
    (folder / "run.json").write_text(json.dumps(result.info, indent=2, default=str))


def read_results(folder: str | Path) -> BacktestResult:
    """A result folder read back (what ``fin-hgrpo report`` rebuilds the page from)."""
    folder = Path(folder)
    needed = ["returns.csv", "metrics.csv", "folds.csv", "run.json"]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise SpecError(f"{folder}: not a backtest result folder (missing {', '.join(missing)})")

    def frame(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, index_col=0, parse_dates=True)

    returns = frame(folder / "returns.csv")
    turnover = (frame(folder / "turnover.csv") if (folder / "turnover.csv").is_file()
                else pd.DataFrame(index=returns.index))
    weights = {p.stem: frame(p) for p in sorted((folder / "weights").glob("*.csv"))}
    training = {p.stem: pd.read_csv(p) for p in sorted((folder / "training").glob("*.csv"))}
    errors_file = folder / "errors.txt"
    errors = [e for e in errors_file.read_text().split("\n\n") if e] \
        if errors_file.is_file() else []
    return BacktestResult(returns, turnover, weights, pd.read_csv(folder / "metrics.csv",
                                                                   index_col=0),
                          pd.read_csv(folder / "folds.csv"), training, errors,
                          json.loads((folder / "run.json").read_text()))
