"""A walk-forward backtest from a spec: plan the tasks, run them, gather the results.

A task is one run of a strategy (one seed, for agents; all its seeds averaged, for an
agent's ensemble) over every fold in order. In each fold the strategy is fitted on the
training window only and run on the test window through the engine, starting from the
holdings the previous fold ended with: the test windows are one continuous investment,
entered from cash once. A strategy that raises in a fold is recorded with its
traceback and the next fold starts again from cash; the rest of the run goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
from fin_hgrpo.strategies.base import Strategy
from fin_hgrpo.strategies.config import (
    AgentStrategySpec,
    StrategySpec,
    build_strategy,
    default_name,
)
from fin_hgrpo.strategies.ensemble import SeedEnsemble


@dataclass(frozen=True)
class Task:
    strategy: str  # the strategy's name: its row in metrics.csv
    column: str  # this run's column in returns.csv: the name, <name>_seed<k>, <name>_ensemble
    spec: StrategySpec
    seeds: tuple[int, ...]  # agents: the seed, or every seed of an ensemble; else ()
    folds: tuple[Fold, ...]
    universe: str  # key into Context.panels
    rebalance: Rebalance
    min_trade: float  # no-trade band, a share of wealth
    steps: int | None  # agents: training states per fold
    agent: AgentConfig | None = None  # agents: the resolved config (no file read in workers)


@dataclass(frozen=True)
class Context:
    """What every task reads: the env spec and the price panels, by universe."""

    env: EnvSpec
    panels: dict[str, MarketPanel]


DEFAULT_UNIVERSE = ""


def run_backtest(spec: BacktestSpec, *, quick: bool = False, workers: int | None = None,
                 executor: Executor | None = None, progress: bool = True,
                 checkpoint: str | Path | None = None) -> BacktestResult:
    """Run every strategy over every fold and gather the out-of-sample results.

    ``checkpoint``: a folder keeping each finished task, so that running again after an
    interruption skips what is done. The executor defaults to the spec's.
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
    result = gather(spec, folds, results, seconds=time.perf_counter() - started,
                    periods=env.periods(panel))
    result.info |= data_notes(env, panel)
    return result


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


def save_backtest(result: BacktestResult, out: str | Path, *, tearsheets: bool = True) -> Path:
    """Write the result files, tearsheets and report into ``out``, atomically (a killed
    run leaves the previous folder, or none, never half a new one)."""
    with atomic_directory(out) as staging:
        write_results(result, staging)
        if tearsheets:
            write_tearsheets(staging)
        write_report(staging)
    return Path(out)


def plan(spec: BacktestSpec, folds: list[Fold], *, quick: bool = False) -> list[Task]:
    """The tasks of a run: a classical strategy once, an agent once per seed (and once
    more for its ensemble), each over every fold in order."""
    tasks = []
    env = spec.env_spec()
    chain = tuple(folds)
    for strategy in spec.strategies:
        name = default_name(strategy)
        rebalance, min_trade = spec.trading_rules(strategy)
        if not isinstance(strategy, AgentStrategySpec):
            probe = build_strategy(strategy, env)
            universe = ",".join(probe.universe) if probe.universe else DEFAULT_UNIVERSE
            tasks.append(Task(name, name, strategy, (), chain, universe, rebalance, min_trade,
                              None))
            continue
        steps = spec.quick.steps if quick else strategy.steps
        config = load_agent_config(strategy.spec)
        runs = [(f"{name}_seed{seed}", (seed,)) for seed in spec.seeds]
        if strategy.ensemble:
            runs.append((f"{name}_ensemble", tuple(spec.seeds)))
        for column, seeds in runs:
            owner = column if column.endswith("_ensemble") else name
            tasks.append(Task(owner, column, strategy, seeds, chain, DEFAULT_UNIVERSE,
                              rebalance, min_trade, steps, config))
    return tasks


def run_task(task: Task, context: Context, progress: Progress) -> list[FoldResult]:
    """Fit and run one strategy over its folds (in order); faults stay in their fold.

    One thread for torch and for numpy's BLAS: sums are then added up in the same
    order whatever the executor and the number of workers, and so are the results.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return _run_folds(task, context, progress)
    finally:
        torch.set_num_threads(threads)


def _run_folds(task: Task, context: Context, progress: Progress) -> list[FoldResult]:
    panel = context.panels[task.universe]
    strategy = _build(task, context.env, lambda n: progress("train", n))
    seed = task.seeds[0] if len(task.seeds) == 1 else None
    results, position = [], None
    for fold in task.folds:
        started = time.perf_counter()
        try:
            run, log = _run_fold(strategy, context.env, panel, fold, task, position)
            position = run.end
            results.append(FoldResult(task.strategy, task.column, fold.index, seed, run.daily,
                                      run.weights, log, None, time.perf_counter() - started))
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            position = None  # what was held is unknown: the next fold starts from cash
            results.append(FoldResult(task.strategy, task.column, fold.index, seed, None, None,
                                      None, traceback.format_exc(),
                                      time.perf_counter() - started))
        progress("fold", 1)
    return results


def _build(task: Task, env: EnvSpec, progress: Callable[[int], None]) -> Strategy:
    """The task's strategy: one seed's, or the ensemble of all its seeds."""
    def one(seed: int = 0) -> Strategy:
        return build_strategy(task.spec, env, seed=seed, steps=task.steps, progress=progress,
                              agent=task.agent, min_trade=task.min_trade)

    if task.column.endswith("_ensemble"):
        return SeedEnsemble([one(seed) for seed in task.seeds], name=task.column)
    return one(*task.seeds)


def _run_fold(strategy: Strategy, env: EnvSpec, panel: MarketPanel, fold: Fold, task: Task,
              position: Position | None):
    dates = panel.dates
    after_test = dates[dates.get_loc(fold.test_end) + 1]  # the close the last return ends on
    strategy.fit(panel.slice(fold.train_start, fold.train_end))
    sim = env.build_sim(panel.slice(fold.train_start, after_test))
    first, last = sim.day(fold.test_start), sim.day(fold.test_end)
    if first < sim.first_decision:
        raise DataError(f"{fold}: features need {sim.first_decision} days of history, the "
                        f"training window holds {first}")
    log = strategy.training_log
    run = run_strategy(strategy, sim, first, last, task.rebalance, start=position,
                       min_trade=task.min_trade)
    return run, log


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
        data = env.data.model_copy(update={"tickers": tickers})
        other = env.model_copy(update={"data": data}).load_panel().select(tickers)
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


class _Bars:
    """Progress bars: folds done, and agents' training iterations."""

    def __init__(self, tasks: list[Task], enabled: bool) -> None:
        n_folds = sum(len(t.folds) for t in tasks)
        iterations = sum(t.agent.iterations_for(t.steps) * len(t.folds)
                         for t in tasks if t.agent is not None)
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


__all__ = ["Context", "Task", "execute", "plan", "run_backtest", "run_task", "save_backtest"]
