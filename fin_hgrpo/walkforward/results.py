"""A backtest's results: gathered from the folds, written to and read from a folder.

``backtests/results/<name>/`` holds ``returns.csv`` (daily net returns, one column per
run, stitched across folds: a classical strategy's name, an agent's ``<name>_seed<k>``
and ``<name>_ensemble``), ``seeds.csv`` (every metric of every run), ``metrics.csv``
(one row per strategy: for an agent each figure is the mean over its seeds of that
figure, with the seeds' Sharpe mean, std, min and max), ``weights/<run>.csv``,
``turnover.csv``, ``folds.csv``, ``training/<run>_fold<k>.csv`` (agents), on a
long-short book or with market impact ``costs/<run>.csv`` (what each day's trading,
of which impact, borrowing and financing cost, shares of wealth; days a participation
cap did not fill in full),
``errors.txt`` (tracebacks of strategies that failed in a fold), ``run.json``, with a
dated cash rate ``cash_rate.csv`` (cash's return on each date, what excess returns are
measured over),
``deploy/`` (what each run needs to act after the test: ``fin-hgrpo weights``) and,
when an agent selects among candidates, ``selection/`` (``choices.csv``,
``foresight.csv``, ``candidates.csv``: ``studies.selection``) and, with ``[cv]``,
``cv/`` (the CPCV plan, path returns and path-Sharpe distributions: ``studies.cpcv``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.envs.trading import Position
from fin_hgrpo.errors import DataError, SpecError
from fin_hgrpo.io import read_csv, read_json, read_result_csv
from fin_hgrpo.measures import performance
from fin_hgrpo.measures.inference import METHOD
from fin_hgrpo.measures.performance import CashRate
from fin_hgrpo.provenance import file_sha256
from fin_hgrpo.strategies.config import AgentStrategySpec, CustomSpec, default_name
from fin_hgrpo.strategies.shrinkage import raw_run
from fin_hgrpo.trust import check_name, inside
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.deploy_state import DeployedRun, DeployState, Holdings, Rules
from fin_hgrpo.walkforward.splits import Fold
from fin_hgrpo.walkforward.summary import strategy_metrics

# between the tracebacks in errors.txt (a traceback holds blank lines of its own)
ERROR_SEPARATOR = "\n" + "=" * 88 + "\n"
REQUIRED = ("returns.csv", "metrics.csv", "seeds.csv", "folds.csv", "run.json")
# the daily columns beyond net return, turnover and cost that a book, market impact or
# a participation cap add; costs/<run>.csv holds them (and the cost, as ``trading``)
COST_COLUMNS = ("impact", "borrow", "financing", "capped")
CASH_RATE_FILE = "cash_rate.csv"  # a dated cash rate: run.json names it


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
    agent: bytes | None = None  # a trained agent's file (``Agent.save``; last fold only)
    kappa: float | None = None  # a shrunk twin: the share of its agent's tilt it kept
    cap: float | None = None  # ... or the active share it was capped at


@dataclass
class BacktestResult:
    """Everything a report shows. ``returns`` has one column per run; ``seeds`` one row
    per run (with its ``strategy`` and ``seed``); ``metrics`` one row per strategy.
    ``write`` puts it in a folder and ``read`` gets it back, ``deploy/`` included."""

    returns: pd.DataFrame
    turnover: pd.DataFrame
    weights: dict[str, pd.DataFrame]
    metrics: pd.DataFrame
    seeds: pd.DataFrame
    folds: pd.DataFrame
    training: dict[str, pd.DataFrame] = field(default_factory=dict)  # "<run>_fold<k>"
    errors: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # spec name, benchmark, baseline, timing
    deploy: DeployState | None = None  # what acting after the test needs
    # agents that select among candidates: choices, foresight and candidates tables
    selection: dict[str, pd.DataFrame] = field(default_factory=dict)
    # a spec with [cv]: the CPCV plan, path returns and metrics (``studies.cpcv``)
    cv: dict[str, pd.DataFrame] = field(default_factory=dict)
    # a long-short book: each run's daily trading, borrow and financing costs
    costs: dict[str, pd.DataFrame] = field(default_factory=dict)
    # cash's return per bar, or per date: what the excess returns are measured over
    rf: CashRate = 0.0

    def runs(self, strategy: str) -> list[str]:
        """The columns of ``returns`` that are runs of ``strategy``."""
        return list(self.seeds.index[self.seeds["strategy"] == strategy])

    def agents(self) -> list[str]:
        """The strategies that are trained agents: runs with seeds, and their ensembles."""
        seeded = set(self.seeds.loc[self.seeds["seed"].notna(), "strategy"])
        return [s for s in self.metrics.index if s in seeded
                or (s.endswith("_ensemble") and s.removesuffix("_ensemble") in seeded)]

    def write(self, folder: str | Path) -> None:
        """The result files in ``folder`` (``io.atomic_directory`` gives a staging one)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.returns.to_csv(folder / "returns.csv")
        self.turnover.to_csv(folder / "turnover.csv")
        self.metrics.to_csv(folder / "metrics.csv")
        self.seeds.to_csv(folder / "seeds.csv")
        self.folds.to_csv(folder / "folds.csv", index=False)
        for name, frames in (("weights", self.weights), ("training", self.training),
                             ("costs", self.costs)):
            if name == "costs" and not frames:
                continue
            (folder / name).mkdir(exist_ok=True)
            for key, frame in frames.items():
                frame.to_csv(folder / name / f"{key}.csv", index=name != "training")
        if isinstance(self.rf, pd.Series):
            self.rf.rename_axis("date").to_csv(folder / CASH_RATE_FILE)
        (folder / "errors.txt").write_text(ERROR_SEPARATOR.join(self.errors))
        (folder / "run.json").write_text(json.dumps(self.info, indent=2, default=str))
        if self.deploy is not None:
            self.deploy.write(folder)
        if self.selection:
            (folder / "selection").mkdir(exist_ok=True)
            for name, table in self.selection.items():
                table.to_csv(folder / "selection" / f"{name}.csv", index=False)
        if self.cv:
            (folder / "cv").mkdir(exist_ok=True)
            for name, table in self.cv.items():
                table.to_csv(folder / "cv" / f"{name}.csv", index=name == "returns")

    @classmethod
    def read(cls, folder: str | Path) -> BacktestResult:
        """A result folder read back (what ``fin-hgrpo report`` rebuilds the page from)."""
        folder = Path(folder)
        missing = [n for n in REQUIRED if not (folder / n).is_file()]
        if missing:
            raise SpecError(f"{folder}: not a backtest result folder "
                            f"(missing {', '.join(missing)})")

        def frame(path: Path, **options) -> pd.DataFrame:
            return read_result_csv(path, **({"index_col": 0, "parse_dates": True} | options))

        returns = frame(folder / "returns.csv")
        turnover = (frame(folder / "turnover.csv") if (folder / "turnover.csv").is_file()
                    else pd.DataFrame(index=returns.index))
        weights = {p.stem: frame(p) for p in sorted((folder / "weights").glob("*.csv"))}
        training = {p.stem: frame(p, index_col=None, parse_dates=False)
                    for p in sorted((folder / "training").glob("*.csv"))}
        errors_file = folder / "errors.txt"
        errors = [e for e in errors_file.read_text().split(ERROR_SEPARATOR) if e] \
            if errors_file.is_file() else []
        table = frame(folder / "metrics.csv", parse_dates=False)
        seeds = frame(folder / "seeds.csv", parse_dates=False, dtype={"seed": "Int64"})
        folds = frame(folder / "folds.csv", index_col=None, parse_dates=False,
                      dtype={"seed": "Int64", "error": "string"})
        deploy = DeployState.read(folder) if (folder / "deploy").is_dir() else None
        selection = {p.stem: frame(p, index_col=None, parse_dates=False)
                     for p in sorted((folder / "selection").glob("*.csv"))}
        cv = {p.stem: frame(p) if p.stem == "returns" else
              frame(p, index_col=None, parse_dates=False)
              for p in sorted((folder / "cv").glob("*.csv"))}
        costs = {p.stem: frame(p) for p in sorted((folder / "costs").glob("*.csv"))}
        info = read_json(folder / "run.json", "name", "env", "benchmark", "baseline")
        if table.empty:
            raise DataError(f"{folder}/metrics.csv: holds no strategy (truncated or edited?); "
                            "run the backtest again")
        _check_names(folder, returns, turnover, table, seeds, folds, info)
        return cls(returns, turnover, weights, table, seeds, folds, training, errors,
                   info, deploy, selection, cv, costs, _cash_rate(folder, info))


def _check_names(folder: Path, returns: pd.DataFrame, turnover: pd.DataFrame,
                 metrics: pd.DataFrame, seeds: pd.DataFrame, folds: pd.DataFrame,
                 info: dict) -> None:
    """The run and strategy names a folder holds become file names (tearsheets, risk
    reports) and page text: each must be a spec name, never a path or markup."""
    named = {"returns.csv": returns.columns, "turnover.csv": turnover.columns,
             "metrics.csv": metrics.index, "seeds.csv": seeds.index,
             "folds.csv": [v for c in ("column", "strategy") if c in folds
                           for v in folds[c].dropna().unique()],
             "run.json": [info[k] for k in ("name", "benchmark", "baseline")
                          if info.get(k) is not None]}
    for file, names in named.items():
        for name in names:
            check_name(name, f"{folder}/{file}")


def read_cash_rate(folder: Path) -> CashRate:
    """The cash rate a result folder's excess returns are measured over: run.json's one
    rate, or the dated one in the file it names (0 for a folder without run.json)."""
    run = folder / "run.json"
    return _cash_rate(folder, read_json(run) if run.is_file() else {})


def _cash_rate(folder: Path, info: dict) -> CashRate:
    rate = info.get("cash_rate", 0.0)
    if not isinstance(rate, str):
        return rate
    return read_csv(inside(folder, rate), index_col=0, parse_dates=True).iloc[:, 0]


def gather(spec: BacktestSpec, folds: list[Fold], results: list[FoldResult], *,
           seconds: float, periods: int = performance.PERIODS,
           rf: CashRate = 0.0) -> BacktestResult:
    """Stitch fold results into per-run series and compute the metrics (``periods``:
    bars per year; ``rf``: the env's cash returns, ``EnvSpec.cash_returns``)."""
    columns = list(dict.fromkeys(r.column for r in results))
    daily = {c: [r.daily for r in results if r.column == c and r.daily is not None]
             for c in columns}
    returns = pd.DataFrame({c: pd.concat(d)["net_return"] for c, d in daily.items() if d})
    turnover = pd.DataFrame({c: pd.concat(d)["turnover"] for c, d in daily.items() if d})
    weights = {c: pd.concat([r.weights for r in results if r.column == c
                             and r.weights is not None]) for c in returns}
    costs = {c: pd.concat(d)[["cost", *[k for k in COST_COLUMNS if k in d[0]]]]
             .rename(columns={"cost": "trading"}).rename_axis("date")
             for c, d in daily.items() if d and set(COST_COLUMNS) & set(d[0])}
    owners = {r.column: (r.strategy, r.seed) for r in results}
    runs = pd.DataFrame([(c, *owners[c]) for c in returns],
                        columns=["run", "strategy", "seed"]).set_index("run")
    by_fold = {f.index: f for f in folds}
    errors = [f"{r.column}, fold {r.fold} ({by_fold[r.fold]}):\n{r.error}" for r in results
              if r.error is not None]
    returns = returns.rename_axis("date")
    info = {"name": spec.name, "benchmark": _present(spec.benchmark, returns),
            "baseline": _present(spec.baseline, returns), "seconds": round(seconds, 1),
            "folds": len(folds), "rebalance": spec.rebalance, "env": spec.env,
            "seeds": list(spec.seeds), "dsr_trials": spec.tries(),
            "cash_rate": CASH_RATE_FILE if isinstance(rf, pd.Series) else rf,
            "periods_per_year": periods,
            "significance": METHOD}
    fold_rows = _fold_rows(results, by_fold, rf, periods)
    per_run, table = strategy_metrics(returns, turnover, runs, info, weights, rf=rf,
                                      folds=fold_rows)
    return BacktestResult(returns, turnover.rename_axis("date"), weights, table, per_run,
                          fold_rows, dict(training_logs(
                              results, keep_empty=True)), errors, info,
                          deployment(spec, folds[-1], results, periods), costs=costs,
                          rf=rf.reindex(returns.index) if isinstance(rf, pd.Series) else rf)


def _fold_rows(results: list[FoldResult], folds: dict[int, Fold], rf: CashRate,
               periods: int) -> pd.DataFrame:
    """``folds.csv``: each run's test-window Sharpe and total return in each fold."""
    rows = []
    for r in results:
        fold = folds[r.fold]
        test = None if r.daily is None else r.daily["net_return"]
        rows.append({
            "fold": r.fold, "strategy": r.strategy, "run": r.column, "seed": r.seed,
            "train_start": fold.train_start.date(), "train_end": fold.train_end.date(),
            "test_start": fold.test_start.date(), "test_end": fold.test_end.date(),
            "sharpe": np.nan if test is None else performance.sharpe(test, rf=rf,
                                                                     periods=periods),
            "total_return": np.nan if test is None else float((1 + test).prod() - 1),
            "kappa": np.nan if r.kappa is None else r.kappa,
            "cap": np.nan if r.cap is None else r.cap,
            "seconds": round(r.seconds, 2), "error": "" if r.error is None else
            r.error.strip().splitlines()[-1],
        })
    return pd.DataFrame(rows)


def training_logs(results: list[FoldResult], *,
                  keep_empty: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """Each trained network's log, named ``<run>_fold<k>`` (empty logs left out unless
    ``keep_empty``)."""
    return [(f"{r.column}_fold{r.fold}", r.training) for r in results
            if r.training is not None and (keep_empty or not r.training.empty)]


def _present(name: str | None, returns: pd.DataFrame) -> str | None:
    return name if name is not None and name in returns else None


def deployment(spec: BacktestSpec, last: Fold, results: list[FoldResult],
               periods: int) -> DeployState:
    """What each run needs to act after the test (``fin-hgrpo weights``): its last
    fold's windows, the holdings that fold began from, an agent's networks."""
    strategies = {}
    for strategy in spec.strategies:
        rebalance, min_trade = spec.trading_rules(strategy)
        code = file_sha256(strategy.module) \
            if isinstance(strategy, CustomSpec) else None
        rules = Rules(spec=strategy, rebalance=rebalance, min_trade=min_trade, code_sha256=code)
        name = default_name(strategy)
        strategies[name] = rules
        if isinstance(strategy, AgentStrategySpec) and strategy.select is not None:
            # its candidates and selection rules act as the agent strategy does
            selecting = {r.strategy for r in results if r.strategy.startswith(f"{name}_")}
            strategies |= {s: rules for s in sorted(selecting)}
        if isinstance(strategy, AgentStrategySpec) and strategy.shrink != "none":
            strategies[f"{name}_shrunk"] = rules  # its twins trade by the agent's rules
    runs = {}
    for r in results:
        if r.fold != last.index or r.error is not None:
            continue
        start = None if r.start is None else Holdings(
            date=pd.Timestamp(r.start.date).date(), weights=r.start.weights.tolist())
        twin = {} if r.kappa is None and r.cap is None else {
            "shrunk_from": raw_run(r.column), "kappa": r.kappa, "cap": r.cap}
        runs[r.column] = DeployedRun(strategy=r.strategy, seed=r.seed,
                                     tickers=list(r.weights.columns[:-1]), start=start,
                                     agent=r.agent, **twin)
    return DeployState.build(spec.env, spec.env_spec(), periods, last, strategies, runs)
