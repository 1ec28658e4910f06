"""A walk-forward backtest from a spec: plan the tasks, run them, gather the results.

A classical strategy's task is one run over every fold in order: in each fold it is
fitted on the training window only and run on the test window through the engine,
starting from the holdings the previous fold ended with: the test windows are one
continuous investment, entered from cash once. An agent's task trains its runs (the
spec's seeds, ``population_seeds`` of them per task) on every fold's training window
as one population (``Population``: one batched update for every member), then runs
each seed over the test windows in the same way, and its ensemble (the mean of the
seeds' targets) from the same trained members. A strategy that raises
in a fold, or a member whose training diverged, is recorded with its traceback and the
next fold starts again from cash; the rest of the run goes on.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from fin_hgrpo.algos import AgentConfig, load_agent_config
from fin_hgrpo.backtest.checkpoints import TaskStore
from fin_hgrpo.backtest.config import BacktestSpec
from fin_hgrpo.backtest.engine import Position, Rebalance, run_strategy
from fin_hgrpo.backtest.executors import Executor, Progress, make_executor
from fin_hgrpo.backtest.report import write_report, write_tearsheets
from fin_hgrpo.backtest.results import BacktestResult, FoldResult, gather, write_results
from fin_hgrpo.backtest.walkforward import Fold
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import DataError
from fin_hgrpo.io import atomic_directory
from fin_hgrpo.provenance import panel_sha256, write_manifest
from fin_hgrpo.strategies.base import Strategy
from fin_hgrpo.strategies.config import (
    AgentStrategySpec,
    StrategySpec,
    build_strategy,
    default_name,
)
from fin_hgrpo.strategies.ensemble import SeedEnsemble
from fin_hgrpo.strategies.rl import RLStrategy, fit_population, networks
from fin_hgrpo.tensorboard import write_training_logs


@dataclass(frozen=True)
class Task:
    """A classical strategy's run over its folds."""

    strategy: str  # the strategy's name: its row in metrics.csv and its column
    column: str
    spec: StrategySpec
    folds: tuple[Fold, ...]
    universe: str  # key into Context.panels
    rebalance: Rebalance
    min_trade: float  # no-trade band, a share of wealth


@dataclass(frozen=True)
class AgentRun:
    """One trained run of an agent: its row in metrics.csv, its column in returns.csv
    and its resolved config (seed included; no file is read in workers)."""

    strategy: str
    column: str
    config: AgentConfig


@dataclass(frozen=True)
class PopulationTask:
    """Agent runs trained together, each on every fold, as one population (with
    ``warm_start``, one population per fold, in order); then each run, and the ensemble
    of all of them when ``ensemble`` names its column, over the test windows."""

    spec: AgentStrategySpec
    runs: tuple[AgentRun, ...]
    folds: tuple[Fold, ...]
    rebalance: Rebalance
    min_trade: float
    steps: int  # training states per member
    ensemble: str | None = None
    universe: str = ""

    def populations(self) -> list[list[tuple[int, Fold]]]:
        """The members (run index, fold) of each population, in training order. With
        ``warm_start`` a fold starts from the previous fold's networks, so each fold's
        members train after the previous fold's."""
        members = [(r, fold) for fold in self.folds for r in range(len(self.runs))]
        size = len(self.runs) if self.spec.warm_start else len(members)
        return [members[i:i + size] for i in range(0, len(members), size)]


@dataclass(frozen=True)
class Context:
    """What every task reads: the env spec and the price panels, by universe."""

    env: EnvSpec
    panels: dict[str, MarketPanel]


DEFAULT_UNIVERSE = ""


def run_backtest(spec: BacktestSpec, *, quick: bool = False, workers: int | None = None,
                 executor: Executor | None = None, progress: bool = True,
                 checkpoint: str | Path | None = None,
                 tensorboard: str | Path | None = None) -> BacktestResult:
    """Run every strategy over every fold and gather the out-of-sample results.

    ``checkpoint``: a folder keeping each finished task, so that running again after an
    interruption skips what is done. The executor defaults to the spec's.
    ``tensorboard``: a folder that gets every agent's training metrics, one TensorBoard
    run per seed and fold (``<folder>/<spec name>/<run>_fold<k>``).
    """
    env = spec.env_spec()
    panel = env.load_panel()
    folds = spec.walk_forward.splitter(env.periods(panel)).split(panel.dates)
    max_folds = spec.quick.folds if quick else spec.walk_forward.max_folds
    if max_folds is not None:
        folds = folds[-max_folds:]
    tasks = plan(spec, folds, quick=quick)
    context = Context(env, _panels(env, panel, tasks))
    executor = executor or make_executor(spec.executor, workers=workers or spec.workers,
                                         ray_address=spec.ray_address)
    started = time.perf_counter()
    outcomes = execute(tasks, context, executor, progress=progress, checkpoint=checkpoint)
    results = [r for outcome in outcomes for r in outcome]
    if tensorboard is not None:
        write_training_logs(Path(tensorboard) / spec.name, training_logs(results))
    result = gather(spec, folds, results, seconds=time.perf_counter() - started,
                    periods=env.periods(panel))
    result.info |= data_notes(env, panel) | {"data_sha256": panel_sha256(panel)}
    return result


def training_logs(results: list[FoldResult]) -> list[tuple[str, pd.DataFrame]]:
    """Each trained network's log, named ``<run>_fold<k>``."""
    return [(f"{r.column}_fold{r.fold}", r.training) for r in results
            if r.training is not None and not r.training.empty]


DROPPED_WARNING = 0.01  # share of dates alignment may drop before a backtest says so


def data_notes(env: EnvSpec, panel: MarketPanel) -> dict:
    """What a reader of the results must know about the data: the source, what alignment
    dropped, and a warning when it dropped more than 1% of the dates or when the
    universe is the bundled sample's survivors."""
    report = panel.report
    share = report.n_dropped / (len(panel) + report.n_dropped)
    warnings = []
    if share > DROPPED_WARNING:
        warnings.append(f"alignment dropped {share:.0%} of the dates ({report.summary()}): "
                        f"the backtest covers {panel.dates[0].date()} .. "
                        f"{panel.dates[-1].date()} only")
    if env.data.source == "sample":
        warnings.append("the bundled sample's names are survivors picked in hindsight (they "
                        "all still traded in 2024, several were its best performers): "
                        "absolute figures (CAGR, Sharpe, alpha) are inflated for every "
                        "strategy, most for those that chase winners; compare strategies "
                        "with each other, not with the market")
    return {"source": env.data.source, "alignment": report.summary(),
            "dropped_share": share, "data_warnings": warnings}


def execute(tasks: list[Task], context: Context, executor: Executor, *, progress: bool = True,
            checkpoint: str | Path | None = None) -> list[list[FoldResult]]:
    """Each task's fold results, in task order; with a ``checkpoint`` folder, tasks found
    there are not run again and new ones are saved there as they finish."""
    store = TaskStore(checkpoint, context.env) if checkpoint is not None else None
    outcomes = [store.load(task) if store else None for task in tasks]
    todo = [i for i, outcome in enumerate(outcomes) if outcome is None]

    def keep(j: int, outcome: list[FoldResult]) -> None:
        if store is not None:
            store.save(tasks[todo[j]], outcome)

    with _Bars([tasks[i] for i in todo], progress) as bars:
        fresh = executor.map(run_task, [tasks[i] for i in todo], context, bars.update, keep)
    for i, outcome in zip(todo, fresh, strict=True):
        outcomes[i] = outcome
    return outcomes


def save_backtest(result: BacktestResult, out: str | Path, *, tearsheets: bool = True,
                  manifest: dict | None = None) -> Path:
    """Write the result files, tearsheets, report and ``manifest`` (provenance) into
    ``out``, atomically (a killed run leaves the previous folder, or none, never half a
    new one)."""
    with atomic_directory(out) as staging:
        write_results(result, staging)
        if manifest is not None:
            write_manifest(staging, manifest)
        if tearsheets:
            from fin_hgrpo.risk.report import write_risk_reports  # risk reads backtests

            write_tearsheets(staging)
            write_risk_reports(staging, shown_as=out)
        write_report(staging)
    return Path(out)


def plan(spec: BacktestSpec, folds: list[Fold], *,
         quick: bool = False) -> list[Task | PopulationTask]:
    """The tasks of a run: a classical strategy once, an agent's seeds (and ensemble)
    as one population task, each over every fold in order."""
    tasks: list[Task | PopulationTask] = []
    env = spec.env_spec()
    chain = tuple(folds)
    for strategy in spec.strategies:
        name = default_name(strategy)
        rebalance, min_trade = spec.trading_rules(strategy)
        if not isinstance(strategy, AgentStrategySpec):
            probe = build_strategy(strategy, env)
            universe = ",".join(probe.universe) if probe.universe else DEFAULT_UNIVERSE
            tasks.append(Task(name, name, strategy, chain, universe, rebalance, min_trade))
            continue
        config = load_agent_config(strategy.spec)
        runs = [AgentRun(name, f"{name}_seed{seed}", config.model_copy(update={"seed": seed}))
                for seed in spec.seeds]
        for group in chunked(runs, spec.population_seeds):
            tasks.append(PopulationTask(
                strategy, group, chain, rebalance, min_trade,
                spec.quick.steps if quick else strategy.steps,
                ensemble=f"{name}_ensemble" if strategy.ensemble else None))
    return tasks


def chunked(runs: list[AgentRun], size: int | None) -> list[tuple[AgentRun, ...]]:
    """Runs in groups of ``size`` (all in one when None): one population task each."""
    size = size or len(runs)
    return [tuple(runs[i:i + size]) for i in range(0, len(runs), size)]


def run_task(task: Task | PopulationTask, context: Context,
             progress: Progress) -> list[FoldResult]:
    """Fit and run one task over its folds (in order); faults stay in their fold.

    One thread for torch and for numpy's BLAS: sums are then added up in the same
    order whatever the executor and the number of workers, and so are the results.
    """
    with one_thread():
        if isinstance(task, PopulationTask):
            return _run_population(task, context, progress)
        return _run_folds(task, context, progress)


@contextmanager
def one_thread() -> Iterator[None]:
    """One thread for torch and for numpy's BLAS within, as every backtest task runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def _run_folds(task: Task, context: Context, progress: Progress) -> list[FoldResult]:
    panel = context.panels[task.universe]
    strategy = build_strategy(task.spec, context.env)
    results, position = [], None
    for fold in task.folds:
        started = time.perf_counter()
        try:
            strategy.fit(panel.slice(fold.train_start, fold.train_end))
            fitted: Strategy | str = strategy
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            fitted = traceback.format_exc()
        result, position = _test_fold(task.strategy, task.column, None, fitted,
                                      time.perf_counter() - started, fold, task, context,
                                      position)
        results.append(result)
        progress("fold", 1)
    return results


def _run_population(task: PopulationTask, context: Context,
                    progress: Progress) -> list[FoldResult]:
    """Train the runs' members population by population, then test each run (and the
    ensemble) over the folds in order."""
    panel = context.panels[task.universe]

    def build(run: AgentRun) -> RLStrategy:
        return build_strategy(task.spec, context.env, seed=run.config.seed, steps=task.steps,
                              agent=run.config, min_trade=task.min_trade,
                              progress=lambda n: progress("train", n))

    carried = [build(run) for run in task.runs]  # warm start: one strategy per run
    trained: dict[tuple[int, int], tuple[Strategy | str, float]] = {}
    for members in task.populations():
        started = time.perf_counter()
        strategies = [carried[r] if task.spec.warm_start else build(task.runs[r])
                      for r, _ in members]
        try:
            errors = fit_population([(s, panel.slice(f.train_start, f.train_end))
                                     for s, (_, f) in zip(strategies, members, strict=True)])
            outcomes = [_error_text(e) if e is not None else
                        copy.deepcopy(s) if task.spec.warm_start else s
                        for s, e in zip(strategies, errors, strict=True)]
        except Exception:  # noqa: BLE001 - the fault is every member's result
            outcomes = [traceback.format_exc()] * len(members)
        share = (time.perf_counter() - started) / len(members)
        for (r, fold), outcome in zip(members, outcomes, strict=True):
            trained[r, fold.index] = (outcome, share)
    columns = [(run.strategy, run.column, run.config.seed,
                [trained[r, f.index] for f in task.folds]) for r, run in enumerate(task.runs)]
    if task.ensemble is not None:
        columns.append((task.ensemble, task.ensemble, None,
                        [_ensemble([trained[r, f.index] for r in range(len(task.runs))],
                                   task.ensemble) for f in task.folds]))
    results = []
    for owner, column, seed, per_fold in columns:
        position = None
        for fold, (fitted, seconds) in zip(task.folds, per_fold, strict=True):
            result, position = _test_fold(owner, column, seed, fitted, seconds, fold, task,
                                          context, position)
            results.append(result)
            progress("fold", 1)
    return results


def _ensemble(members: list[tuple[Strategy | str, float]],
              name: str) -> tuple[Strategy | str, float]:
    """The seeds' trained strategies of one fold as one (or the first member's error)."""
    seconds = sum(s for _, s in members)
    failed = [m for m, _ in members if isinstance(m, str)]
    if failed:
        return failed[0], seconds
    return SeedEnsemble([m for m, _ in members], name=name), seconds


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _test_fold(owner: str, column: str, seed: int | None, fitted: Strategy | str,
               seconds: float, fold: Fold, task: Task | PopulationTask, context: Context,
               position: Position | None) -> tuple[FoldResult, Position | None]:
    """A fitted strategy (or the error of its fit) on a fold's test window, from
    ``position``; returns the fold's result and the holdings it ended with (None after
    a failure: the next fold starts from cash)."""
    started = time.perf_counter()
    error = fitted if isinstance(fitted, str) else None
    run = log = None
    if error is None:
        try:
            run = _run_test(fitted, context.env, context.panels[task.universe], fold, task,
                            position)
            log = fitted.training_log
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            error = traceback.format_exc()
    seconds += time.perf_counter() - started
    if run is None:
        return FoldResult(owner, column, fold.index, seed, None, None, None, error,
                          seconds, position), None
    model = _model(fitted) if fold.index == task.folds[-1].index else None
    return FoldResult(owner, column, fold.index, seed, run.daily, run.weights, log, None,
                      seconds, position, model), run.end


def _model(fitted: Strategy) -> dict | None:
    """A trained agent's config and networks (copied), for acting after the test."""
    if not isinstance(fitted, RLStrategy) or fitted.agent is None:
        return None
    return {"config": fitted.config.model_dump(mode="json"), "networks": networks(fitted.agent)}


def _run_test(strategy: Strategy, env: EnvSpec, panel: MarketPanel, fold: Fold, task,
              position: Position | None):
    """A fitted strategy on a fold's test window, through the engine."""
    dates = panel.dates
    after_test = dates[dates.get_loc(fold.test_end) + 1]  # the close the last return ends on
    sim = env.build_sim(panel.slice(fold.train_start, after_test))
    first, last = sim.day(fold.test_start), sim.day(fold.test_end)
    if first < sim.first_decision:
        raise DataError(f"{fold}: features need {sim.first_decision} days of history, the "
                        f"training window holds {first}")
    return run_strategy(strategy, sim, first, last, task.rebalance, start=position,
                        min_trade=task.min_trade)


def _panels(env: EnvSpec, panel: MarketPanel, tasks: list[Task]) -> dict[str, MarketPanel]:
    """The env's panel, plus one per other universe a strategy trades (the benchmark):
    taken from the env's panel if it holds those tickers, else loaded from the same
    source and required to have a price on every date of the backtest (in a listed
    universe: untradable, so held as cash, until it lists)."""
    panels = {DEFAULT_UNIVERSE: panel}
    for universe in sorted({t.universe for t in tasks} - {DEFAULT_UNIVERSE}):
        tickers = universe.split(",")
        if set(tickers) <= set(panel.tickers):
            panels[universe] = panel.select(tickers)
            continue
        other = env.load_tickers(tickers).select(tickers)
        prices = other.prices.reindex(panel.dates)
        missing = prices.isna().any(axis=1)
        if env.data.align == "listed":  # untradable (cash) until it lists
            tradable = other.tradable.reindex(panel.dates, fill_value=False)
            panels[universe] = MarketPanel(prices, tradable=tradable & prices.notna(),
                                           report=other.report, source=other.source)
            continue
        if missing.any():
            raise DataError(f"{env.data.source}: {universe} has no price on "
                            f"{missing.idxmax().date()}, a trading date of the backtest")
        panels[universe] = MarketPanel(prices, source=other.source)
    return panels


def _columns(task: Task | PopulationTask) -> int:
    if isinstance(task, Task):
        return 1
    return len(task.runs) + (task.ensemble is not None)


class _Bars:
    """Progress bars: folds done, and agents' training iterations."""

    def __init__(self, tasks: list[Task], enabled: bool) -> None:
        n_folds = sum(len(t.folds) * _columns(t) for t in tasks)
        iterations = sum(t.runs[0].config.iterations_for(t.steps) * len(t.folds) * len(t.runs)
                         for t in tasks if isinstance(t, PopulationTask))
        self.folds = tqdm(total=n_folds, desc="folds", unit="fold", disable=not enabled,
                          position=0)
        self.training = tqdm(total=iterations, desc="training", unit="it",
                             disable=not enabled or iterations == 0, position=1)

    def update(self, kind: str, n: int) -> None:
        (self.folds if kind == "fold" else self.training).update(n)

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc) -> None:
        self.training.close()
        self.folds.close()


__all__ = ["AgentRun", "Context", "PopulationTask", "Task", "execute", "plan", "run_backtest",
           "run_task", "save_backtest"]
