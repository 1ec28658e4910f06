"""A backtest's results: gathered from the folds, written to and read from a folder.

``backtests/results/<name>/`` holds ``returns.csv`` (daily net returns, one column per
run, stitched across folds: a classical strategy's name, an agent's ``<name>_seed<k>``
and ``<name>_ensemble``), ``seeds.csv`` (every metric of every run), ``metrics.csv``
(one row per strategy: for an agent each figure is the mean over its seeds of that
figure, with the seeds' Sharpe mean, std, min and max), ``weights/<run>.csv``,
``turnover.csv``, ``folds.csv``, ``training/<run>_fold<k>.csv`` (agents),
``errors.txt`` (tracebacks of strategies that failed in a fold), ``run.json`` and
``deploy/`` (what each run needs to act after the test: ``fin-hgrpo weights``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.backtest import metrics
from fin_hgrpo.backtest.engine import Position
from fin_hgrpo.backtest.inference import METHOD, MIN_DAYS, sharpe_difference
from fin_hgrpo.backtest.walkforward import Fold
from fin_hgrpo.errors import SpecError

# between the tracebacks in errors.txt (a traceback holds blank lines of its own)
ERROR_SEPARATOR = "\n" + "=" * 88 + "\n"


@dataclass
class FoldResult:
    """One run of a strategy on one fold: the engine's record, or the error that
    stopped it. ``seed``: the agent's seed (None for classical strategies and
    ensembles)."""

    strategy: str
    column: str
    fold: int
    seed: int | None
    daily: pd.DataFrame | None  # net_return, turnover, cost by date
    weights: pd.DataFrame | None
    training: pd.DataFrame | None  # agents: metrics per training iteration
    error: str | None
    seconds: float
    start: Position | None = None  # the holdings the fold's test began from
    model: dict | None = None  # an agent's trained networks and config (last fold only)


@dataclass
class BacktestResult:
    """Everything a report shows. ``returns`` has one column per run; ``seeds`` one row
    per run (with its ``strategy`` and ``seed``); ``metrics`` one row per strategy."""

    returns: pd.DataFrame
    turnover: pd.DataFrame
    weights: dict[str, pd.DataFrame]
    metrics: pd.DataFrame
    seeds: pd.DataFrame
    folds: pd.DataFrame
    training: dict[str, pd.DataFrame] = field(default_factory=dict)  # "<run>_fold<k>"
    errors: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # spec name, benchmark, baseline, timing
    deploy: dict = field(default_factory=dict)  # what acting after the test needs

    def runs(self, strategy: str) -> list[str]:
        """The columns of ``returns`` that are runs of ``strategy``."""
        return list(self.seeds.index[self.seeds["strategy"] == strategy])

    def agents(self) -> list[str]:
        """The strategies that are trained agents: runs with seeds, and their ensembles."""
        seeded = set(self.seeds.loc[self.seeds["seed"].notna(), "strategy"])
        return [s for s in self.metrics.index if s in seeded
                or (s.endswith("_ensemble") and s.removesuffix("_ensemble") in seeded)]


def gather(spec, folds: list[Fold], results: list[FoldResult], *, seconds: float,
           periods: int = metrics.PERIODS) -> BacktestResult:
    """Stitch fold results into per-run series and compute the metrics (``periods``:
    bars per year)."""
    rf = spec.env_spec().costs.cash_rate
    columns = list(dict.fromkeys(r.column for r in results))
    by_fold = {f.index: f for f in folds}
    daily = {c: [r.daily for r in results if r.column == c and r.daily is not None]
             for c in columns}
    returns = pd.DataFrame({c: pd.concat(d)["net_return"] for c, d in daily.items() if d})
    turnover = pd.DataFrame({c: pd.concat(d)["turnover"] for c, d in daily.items() if d})
    weights = {c: pd.concat([r.weights for r in results if r.column == c
                             and r.weights is not None]) for c in returns}
    owners = {r.column: (r.strategy, r.seed) for r in results}
    runs = pd.DataFrame([(c, *owners[c]) for c in returns],
                        columns=["run", "strategy", "seed"]).set_index("run")
    fold_rows, errors, training = [], [], {}
    for r in results:
        fold = by_fold[r.fold]
        test = None if r.daily is None else r.daily["net_return"]
        fold_rows.append({
            "fold": r.fold, "strategy": r.strategy, "run": r.column, "seed": r.seed,
            "train_start": fold.train_start.date(), "train_end": fold.train_end.date(),
            "test_start": fold.test_start.date(), "test_end": fold.test_end.date(),
            "sharpe": np.nan if test is None else metrics.sharpe(test, rf=rf, periods=periods),
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
            "folds": len(folds), "rebalance": spec.rebalance, "env": spec.env,
            "seeds": list(spec.seeds), "cash_rate": rf, "dsr_trials": spec.dsr_trials,
            "periods_per_year": periods,
            "significance": METHOD}
    per_run, table = strategy_metrics(returns, turnover, runs, info, weights)
    return BacktestResult(returns, turnover.rename_axis("date"), weights, table, per_run,
                          pd.DataFrame(fold_rows), training, errors, info,
                          deployment(spec, folds[-1], results, periods))


def strategy_metrics(returns: pd.DataFrame, turnover: pd.DataFrame, runs: pd.DataFrame,
                     info: dict, weights: dict[str, pd.DataFrame] | None = None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every metric per run (``seeds.csv``) and per strategy (``metrics.csv``).

    A strategy's figure is the mean over its runs (seeds) of the run's figure: one seed
    is what would be deployed, and a mean of seeds' returns would be an ensemble, which
    flatters. The DSR counts each strategy once (its seeds' mean daily Sharpe) unless
    ``dsr_trials`` says how many configurations were tried. ``sharpe_vs_baseline`` is
    the mean seed Sharpe minus the baseline's on the days both have, with an interval
    whose bootstrap resamples seeds together with blocks of days (``inference``).
    ``active_share`` is each run's mean daily departure from the baseline's weights
    (``weights``: each run's weights held).
    """
    rf = info.get("cash_rate", 0.0)
    periods = info.get("periods_per_year", metrics.PERIODS)
    benchmark, baseline = info.get("benchmark"), info.get("baseline")
    groups = {s: list(runs.index[runs["strategy"] == s]) for s in dict.fromkeys(runs["strategy"])}
    daily = pd.Series({c: metrics.sharpe(returns[c].dropna(), annualize=False, rf=rf)
                       for c in returns})
    trials = np.array([daily[cols].mean() for cols in groups.values()])
    per_run = metrics.summarize(returns, turnover=turnover, rf=rf, trial_sharpes=trials,
                                benchmark=None if benchmark is None else returns[benchmark],
                                n_trials=info.get("dsr_trials"), periods=periods)
    if weights is not None and baseline is not None and baseline in weights:
        per_run["active_share"] = [metrics.active_share(weights[c], weights[baseline])
                                   if c in weights else np.nan for c in per_run.index]
    rows = {}
    for strategy, cols in groups.items():
        part = per_run.loc[cols]
        sharpes = part["sharpe"]
        row = part.mean(skipna=True).to_dict() | {
            "seeds": len(cols), "sharpe_seed_mean": sharpes.mean(),
            "sharpe_seed_std": sharpes.std(ddof=1) if len(cols) > 1 else 0.0,
            "sharpe_seed_min": sharpes.min(), "sharpe_seed_max": sharpes.max()}
        if baseline is not None:
            row |= _against_baseline(returns[cols], returns[baseline], rf, periods)
        rows[strategy] = row
    per_run = runs.join(per_run).rename_axis("run")
    return per_run, pd.DataFrame.from_dict(rows, orient="index").rename_axis("strategy")


def _against_baseline(runs: pd.DataFrame, baseline: pd.Series, rf: float,
                      periods: int) -> dict:
    both = pd.concat([runs, baseline.rename("__baseline__")], axis=1).dropna()
    if len(both) < MIN_DAYS:
        return {"sharpe_vs_baseline": np.nan, "sharpe_vs_baseline_low": np.nan,
                "sharpe_vs_baseline_high": np.nan}
    interval = sharpe_difference(both.iloc[:, :-1], both.iloc[:, -1], rf=rf, periods=periods)
    return {"sharpe_vs_baseline": interval.difference, "sharpe_vs_baseline_low": interval.low,
            "sharpe_vs_baseline_high": interval.high}


def _present(name: str | None, returns: pd.DataFrame) -> str | None:
    return name if name is not None and name in returns else None


def deployment(spec, last: Fold, results: list[FoldResult], periods: int) -> dict:
    """What each run needs to act after the test (``fin-hgrpo weights``): its last
    fold's windows, the holdings that fold began from, an agent's networks."""
    from fin_hgrpo.strategies.config import default_name

    env = spec.env_spec()
    strategies = {}
    for strategy in spec.strategies:
        rebalance, min_trade = spec.trading_rules(strategy)
        strategies[default_name(strategy)] = {
            "spec": strategy.model_dump(mode="json"), "rebalance": rebalance,
            "min_trade": min_trade}
    runs = {}
    for r in results:
        if r.fold != last.index or r.error is not None:
            continue
        runs[r.column] = {
            "strategy": r.strategy, "seed": r.seed, "model": r.model,
            "tickers": list(r.weights.columns[:-1]),
            "start": None if r.start is None else
            {"date": str(pd.Timestamp(r.start.date).date()), "weights": r.start.weights.tolist()}}
    return {"env": spec.env, "env_spec": env.model_dump(mode="json"), "periods_per_year": periods,
            "fold": {"index": last.index, **{k: str(getattr(last, k).date()) for k in (
                "train_start", "train_end", "test_start", "test_end")}},
            "strategies": strategies, "runs": runs}


def write_deployment(deploy: dict, folder: Path) -> None:
    """``deploy/state.json`` and each agent run's networks as ``deploy/<run>.pt``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    runs = {}
    for run, entry in deploy["runs"].items():
        model = entry["model"]
        if model is not None:
            torch.save(model["networks"], folder / f"{run}.pt")
        runs[run] = {**entry, "model": None if model is None else
                     {"config": model["config"], "networks": f"{run}.pt"}}
    (folder / "state.json").write_text(json.dumps({**deploy, "runs": runs}, indent=2))


def write_results(result: BacktestResult, folder: Path) -> None:
    """Write the result files into ``folder`` (``io.atomic_directory`` gives a staging one)."""
    folder.mkdir(parents=True, exist_ok=True)
    result.returns.to_csv(folder / "returns.csv")
    result.turnover.to_csv(folder / "turnover.csv")
    result.metrics.to_csv(folder / "metrics.csv")
    result.seeds.to_csv(folder / "seeds.csv")
    result.folds.to_csv(folder / "folds.csv", index=False)
    for name, frames in (("weights", result.weights), ("training", result.training)):
        (folder / name).mkdir(exist_ok=True)
        for key, frame in frames.items():
            frame.to_csv(folder / name / f"{key}.csv", index=name == "weights")
    (folder / "errors.txt").write_text(ERROR_SEPARATOR.join(result.errors))
    (folder / "run.json").write_text(json.dumps(result.info, indent=2, default=str))
    if result.deploy:
        write_deployment(result.deploy, folder / "deploy")


def read_results(folder: str | Path) -> BacktestResult:
    """A result folder read back (what ``fin-hgrpo report`` rebuilds the page from)."""
    folder = Path(folder)
    needed = ["returns.csv", "metrics.csv", "seeds.csv", "folds.csv", "run.json"]
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
    errors = [e for e in errors_file.read_text().split(ERROR_SEPARATOR) if e] \
        if errors_file.is_file() else []
    table = pd.read_csv(folder / "metrics.csv", index_col=0)
    seeds = pd.read_csv(folder / "seeds.csv", index_col=0, dtype={"seed": "Int64"})
    folds = pd.read_csv(folder / "folds.csv", dtype={"seed": "Int64", "error": "string"})
    return BacktestResult(returns, turnover, weights, table, seeds, folds, training, errors,
                          json.loads((folder / "run.json").read_text()))
