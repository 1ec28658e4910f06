"""The tasks of a walk-forward run, and running them on an executor.

A classical strategy's task is one run over every fold in order: in each fold it is
fitted on the training window only and run on the test window through the engine,
starting from the holdings the previous fold ended with: the test windows are one
continuous investment, entered from cash once. An agent's task trains its runs (seeds)
on every fold's training window as one population (``Population``: one batched update
for every member), then runs each seed over the test windows in the same way, and its
ensemble (the mean of the seeds' targets) from the same trained members. A strategy
that raises in a fold, or a member whose training diverged, is recorded with its
traceback and the next fold starts again from cash; the rest of the run goes on.
Backtests and sweeps both plan and run these tasks.
"""

from __future__ import annotations

import copy
import io
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from tqdm import tqdm

from fin_hgrpo.algos import Agent, AgentConfig, configs_at, load_agent_config
from fin_hgrpo.algos.population import MEMBER_FIELDS
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import EnvSpec, PortfolioSim
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError
from fin_hgrpo.measures.performance import CashRate
from fin_hgrpo.strategies.base import Strategy
from fin_hgrpo.strategies.config import (
    AgentStrategySpec,
    StrategySpec,
    build_strategy,
    candidate_names,
    default_name,
)
from fin_hgrpo.strategies.ensemble import SeedEnsemble
from fin_hgrpo.strategies.rl import RLStrategy, agents_decide, fit_population
from fin_hgrpo.strategies.shrinkage import ShrunkAgent, Tilt
from fin_hgrpo.threads import one_thread
from fin_hgrpo.walkforward.checkpoints import TaskStore
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.engine import StrategyRun, run_decisions, run_strategy
from fin_hgrpo.walkforward.executors import Executor, Progress, TaskFunction
from fin_hgrpo.walkforward.results import FoldResult
from fin_hgrpo.walkforward.shrunk import Shrinking, kept
from fin_hgrpo.walkforward.splits import Fold, inner_folds

DEFAULT_UNIVERSE = ""  # the env's own tickers (a benchmark names its own)


class FoldReporter(Protocol):
    """Where a pruned task reports after each fold: ``stopped`` takes each run's fold
    results so far (by column) and gives the trials the study's pruner stops."""

    def stopped(self, step: int, results: dict) -> set[str]: ...


class Pruner(Protocol):
    """A sweep's pruning as a task sees it (``studies.optuna_study.Pruning``): picklable,
    opened in the task's own process with the cash returns and bars a year."""

    def open(self, rf: CashRate, periods: int) -> FoldReporter: ...


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

    def progress_units(self) -> tuple[int, int]:
        """Fold runs, and training iterations (none), for the progress bars."""
        return len(self.folds), 0


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
    universe: str = DEFAULT_UNIVERSE
    # a sweep's pruning: fold by fold, each run's trial reports its running Sharpe to the
    # study, and a trial its pruner stops trains no more
    pruning: Pruner | None = None

    def progress_units(self) -> tuple[int, int]:
        """Fold runs, and training iterations, for the progress bars."""
        columns = (len(self.runs) + (self.ensemble is not None)) * \
            (1 if self.spec.shrink == "none" else 2)  # with the shrunk twins
        config = self.runs[0].config
        iterations = sum(config.iterations_for(steps) for steps in
                         self.spec.fold_steps(self.steps, len(self.folds))) * len(self.runs)
        return len(self.folds) * columns, iterations

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


@dataclass(frozen=True)
class Column:
    """One series of ``returns.csv``: its strategy (the row in metrics.csv), its name and
    the agent seed behind it (None for a classical strategy or an ensemble)."""

    strategy: str
    name: str
    seed: int | None = None


@dataclass(frozen=True)
class Fit:
    """A strategy fitted on a fold's training window, or the traceback of its failure,
    and the seconds the fit took."""

    strategy: Strategy | None
    error: str | None
    seconds: float


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
            tasks.append(Task(name, name, strategy, chain, strategy_universe(strategy, env),
                              rebalance, min_trade))
            continue
        steps = spec.quick.steps if quick else strategy.steps
        if strategy.select is not None:  # every candidate's seeds, grouped as a sweep's
            for group in populations(candidate_runs(strategy, spec.seeds)):
                tasks += [PopulationTask(strategy, part, chain, rebalance, min_trade, steps)
                          for part in chunked(list(group), spec.population_seeds)]
            continue
        for group in chunked(seed_runs(strategy, name, spec.seeds), spec.population_seeds):
            tasks.append(PopulationTask(
                strategy, group, chain, rebalance, min_trade, steps,
                ensemble=f"{name}_ensemble" if strategy.ensemble else None))
    return tasks


def strategy_universe(strategy: StrategySpec, env: EnvSpec) -> str:
    """The key of the panel a classical strategy trades: its own tickers, or the env's."""
    probe = build_strategy(strategy, env)
    return ",".join(probe.universe) if probe.universe else DEFAULT_UNIVERSE


def seed_runs(strategy: AgentStrategySpec, name: str, seeds: list[int]) -> list[AgentRun]:
    """An agent strategy's spec as written, one run per seed (``<name>_seed<s>``)."""
    config = load_agent_config(strategy.spec)
    return [AgentRun(name, f"{name}_seed{seed}", config.model_copy(update={"seed": seed}))
            for seed in seeds]


def plan_inner(spec: BacktestSpec, folds: list[Fold], dates: pd.DatetimeIndex, *,
               quick: bool = False) -> list[tuple[int, PopulationTask]]:
    """The inner walk-forward tasks of agents whose selection rules need them
    (``inner_wf:J``): for each outer fold, each candidate population over the fold's
    inner folds (``walkforward.inner_folds``: test windows of the strategy's
    validation days), paired with the outer fold's index."""
    tasks = []
    for strategy in spec.strategies:
        if not isinstance(strategy, AgentStrategySpec) or strategy.select is None:
            continue
        count = strategy.select.inner_folds()
        if not count:
            continue
        rebalance, min_trade = spec.trading_rules(strategy)
        steps = spec.quick.steps if quick else strategy.steps
        groups = [part for group in populations(candidate_runs(strategy, spec.seeds))
                  for part in chunked(list(group), spec.population_seeds)]
        for outer in folds:
            inner = inner_folds(outer, dates, count, strategy.validation_days,
                                spec.walk_forward.embargo_days)
            tasks += [(outer.index, PopulationTask(strategy, group, inner, rebalance,
                                                   min_trade, steps)) for group in groups]
    return tasks


def candidate_runs(strategy: AgentStrategySpec, seeds: list[int],
                   source: str = "backtest") -> list[AgentRun]:
    """An agent strategy's selection candidates, each seed a run: strategy
    ``<name>_c<k>``, column ``<name>_c<k>_seed<s>``, k the grid point's index."""
    configs = configs_at(load_agent_config(strategy.spec), strategy.select.points(), source,
                         key="select.space")
    return [AgentRun(name, f"{name}_seed{seed}", config.model_copy(update={"seed": seed}))
            for name, config in zip(candidate_names(strategy), configs, strict=True)
            for seed in seeds]


def populations(runs: list[AgentRun]) -> list[tuple[AgentRun, ...]]:
    """Runs grouped into populations: runs whose configs differ only in what members of
    a population may differ in (seed, learning rate, weight decay, entropy coefficient)
    train together, in the order they first appear."""
    groups: dict[str, list[AgentRun]] = {}
    for run in runs:
        groups.setdefault(run.config.model_dump_json(exclude=set(MEMBER_FIELDS)), []).append(run)
    return [tuple(group) for group in groups.values()]


def chunked(runs: list[AgentRun], size: int | None) -> list[tuple[AgentRun, ...]]:
    """Runs in groups of ``size`` (all in one when None): one population task each."""
    size = size or len(runs)
    return [tuple(runs[i:i + size]) for i in range(0, len(runs), size)]


def execute(tasks: Sequence[Any], context: Context, executor: Executor, *,
            progress: bool = True, checkpoint: str | Path | None = None,
            fn: TaskFunction | None = None) -> list[list[FoldResult]]:
    """Each task's fold results, in task order, from ``fn`` (default: ``run_task``);
    with a ``checkpoint`` folder, tasks found there are not run again and new ones are
    saved there as they finish."""
    store = TaskStore(checkpoint, context) if checkpoint is not None else None
    outcomes = [store.load(task) if store else None for task in tasks]
    todo = [i for i, outcome in enumerate(outcomes) if outcome is None]

    def keep(j: int, outcome: list[FoldResult]) -> None:
        if store is not None:
            store.save(tasks[todo[j]], outcome)

    with _Bars([tasks[i] for i in todo], progress) as bars:
        fresh = executor.map(fn or run_task, [tasks[i] for i in todo], context, bars.update,
                             keep)
    for i, outcome in zip(todo, fresh, strict=True):
        outcomes[i] = outcome
    return outcomes


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


def _run_folds(task: Task, context: Context, progress: Progress) -> list[FoldResult]:
    panel = context.panels[task.universe]
    strategy = build_strategy(task.spec, context.env)
    column = Column(task.strategy, task.column)
    results, position = [], None
    for fold in task.folds:
        started = time.perf_counter()
        try:
            strategy.fit(panel.slice(fold.train_start, fold.train_end))
            fit = Fit(strategy, None, time.perf_counter() - started)
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            fit = Fit(None, traceback.format_exc(), time.perf_counter() - started)
        result, position = _test_fold(column, fit, fold, task, context, position)
        results.append(result)
        progress("fold", 1)
    return results


def _run_population(task: PopulationTask, context: Context,
                    progress: Progress) -> list[FoldResult]:
    """Train the runs' members population by population, then test each run (and the
    ensemble) over the folds in order."""
    if task.pruning is not None:
        return _run_pruned(task, context, progress)
    trained = _train_populations(task, context, progress)
    columns = [(Column(run.strategy, run.column, run.config.seed),
                [trained[r, f.index] for f in task.folds]) for r, run in enumerate(task.runs)]
    if task.ensemble is not None:
        columns.append((Column(task.ensemble, task.ensemble),
                        [_ensemble([trained[r, f.index] for r in range(len(task.runs))],
                                   task.ensemble) for f in task.folds]))
    shrinking = _shrinking(task, context, columns)
    reported = len(columns) * (2 if shrinking else 1)  # the raw columns, then their twins
    tested: list[list[FoldResult]] = [[] for _ in range(reported)]
    positions: dict[object, Position | None] = {}
    for f, fold in enumerate(task.folds):
        names = [column for column, _ in columns]
        fits = [fold_fits[f] for _, fold_fits in columns]
        keys: list[object] = [("raw", k) for k in range(len(columns))]
        if shrinking is not None:
            twins, extra, strategies = shrinking.twins(fits)
            names += [Column(*twin, column.seed) for twin, (column, _) in zip(twins, columns,
                                                                              strict=True)]
            names += [Column(str(key), str(key)) for key in extra[len(twins):]]
            failed = next((fit.error for fit in fits if fit.error is not None), None)
            fits += [Fit(s, None if s is not None else failed, 0.0) for s in strategies]
            keys += extra
        fold_results, ends = _test_agents(names, fits, fold, task, context,
                                          [positions.get(key) for key in keys])
        for key, result, end in zip(keys, fold_results, ends, strict=True):
            positions[key] = end
            if shrinking is not None:
                shrinking.record(key, result)
        for k in range(reported):
            if k >= len(columns):
                fold_results[k].kappa, fold_results[k].cap = kept(fits[k].strategy)
            tested[k].append(fold_results[k])
        progress("fold", reported)
    return [result for results in tested for result in results]


def _shrinking(task: PopulationTask, context: Context,
               columns: list[tuple[Column, list[Fit]]]) -> Shrinking | None:
    """The twins of an agent whose spec shrinks its tilt (None for ``shrink = "none"``)."""
    if task.spec.shrink == "none":
        return None
    rf = context.env.cash_returns(context.panels[task.universe])
    return Shrinking(task.spec, [(column.strategy, column.name) for column, _ in columns],
                     task.runs[0].config.base, rf)


def _test_agents(columns: list[Column], fits: list[Fit], fold: Fold, task: PopulationTask,
                 context: Context, positions: list[Position | None],
                 ) -> tuple[list[FoldResult], list[Position | None]]:
    """Every agent run and the ensemble on a fold's test window, as one engine run of
    their portfolios side by side (each the run it makes alone: ``run_decisions``);
    should any of them fail, each is run alone, so that the fault stays its own."""
    started = time.perf_counter()
    live = [k for k, fit in enumerate(fits) if fit.error is None]
    try:
        sim, first, last = _test_sim(context.env, context.panels[task.universe], fold, task)
        decide = agents_decide(sim, [_agents_of(fits[k].strategy) for k in live],
                               [fits[k].strategy.name for k in live],
                               [_tilt_of(fits[k].strategy) for k in live])
        runs = dict(zip(live, run_decisions(decide, sim, first, last, task.rebalance,
                                            [positions[k] for k in live],
                                            min_trade=task.min_trade), strict=True))
    except Exception:  # noqa: BLE001 - one of them failed: find which, alone
        tested = [_test_fold(column, fit, fold, task, context, position)
                  for column, fit, position in zip(columns, fits, positions, strict=True)]
        return [result for result, _ in tested], [end for _, end in tested]
    share = (time.perf_counter() - started) / max(len(live), 1)
    results, ends = [], []
    for k, (column, fit) in enumerate(zip(columns, fits, strict=True)):
        run = runs.get(k)
        results.append(_fold_result(column, fit, fold, task, positions[k], run, fit.error,
                                    fit.seconds + share))
        ends.append(None if run is None else run.end)
    return results, ends


def _run_pruned(task: PopulationTask, context: Context,
                progress: Progress) -> list[FoldResult]:
    """A sweep's runs fold by fold: the runs still alive train on a fold as one
    population (from the last fold's networks with ``warm_start``), are tested on it,
    and report to the study, whose pruner may stop their trials; a stopped run's
    results end with the last fold it ran."""
    panel = context.panels[task.universe]
    build = _member_builder(task, context, progress)
    reporter = task.pruning.open(context.env.cash_returns(panel), context.env.periods(panel))
    carried = {r: build(run) for r, run in enumerate(task.runs)}
    alive = list(range(len(task.runs)))
    positions: dict[int, Position | None] = dict.fromkeys(alive)
    done: dict[int, list[FoldResult]] = {r: [] for r in alive}
    for step, fold in enumerate(task.folds):
        strategies = [carried[r] if task.spec.warm_start else build(task.runs[r])
                      for r in alive]
        fits = _fit_together(task, strategies,
                             [panel.slice(fold.train_start, fold.train_end)] * len(alive))
        columns = [Column(task.runs[r].strategy, task.runs[r].column, task.runs[r].config.seed)
                   for r in alive]
        results, ends = _test_agents(columns, fits, fold, task, context,
                                     [positions[r] for r in alive])
        for r, result, end in zip(alive, results, ends, strict=True):
            done[r].append(result)
            positions[r] = end
        progress("fold", len(alive))
        stopped = reporter.stopped(step, {task.runs[r].column: done[r] for r in alive})
        alive = [r for r in alive if task.runs[r].strategy not in stopped]
        if not alive:
            break
    return [result for r in range(len(task.runs)) for result in done[r]]


def _agents_of(strategy: Strategy) -> list[Agent]:
    """The trained agents whose mean target is the strategy's: an agent, or a seed
    ensemble's members (of a shrunk twin, its agent's)."""
    if isinstance(strategy, ShrunkAgent):
        strategy = strategy.agent
    members = strategy.members if isinstance(strategy, SeedEnsemble) else [strategy]
    return [member.agent for member in members]


def _tilt_of(strategy: Strategy) -> Tilt | None:
    """The share of its agents' tilt a shrunk twin keeps (None: a raw run keeps all)."""
    return strategy.tilt if isinstance(strategy, ShrunkAgent) else None


def _train_populations(task: PopulationTask, context: Context,
                       progress: Progress) -> dict[tuple[int, int], Fit]:
    """Each (run, fold index)'s fit: the members trained population by population."""
    panel = context.panels[task.universe]
    build = _member_builder(task, context, progress)
    carried = [build(run) for run in task.runs]  # warm start: one strategy per run
    trained: dict[tuple[int, int], Fit] = {}
    for members in task.populations():
        strategies = [carried[r] if task.spec.warm_start else build(task.runs[r])
                      for r, _ in members]
        fits = _fit_together(task, strategies, [panel.slice(f.train_start, f.train_end)
                                                for _, f in members])
        for (r, fold), fit in zip(members, fits, strict=True):
            trained[r, fold.index] = fit
    return trained


def _member_builder(task: PopulationTask, context: Context,
                    progress: Progress) -> Callable[[AgentRun], RLStrategy]:
    """A run's agent strategy, untrained, as the task's spec and budget say."""
    def build(run: AgentRun) -> RLStrategy:
        return build_strategy(task.spec, context.env, seed=run.config.seed, steps=task.steps,
                              agent=run.config, min_trade=task.min_trade,
                              progress=lambda n: progress("train", n))
    return build


def _fit_together(task: PopulationTask, strategies: list[RLStrategy],
                  windows: list[MarketPanel]) -> list[Fit]:
    """Each strategy fitted on its training window, all as one population; a member's
    fault is its own fit's error, the population's every member's. With ``warm_start``
    each fit is a copy, so that the strategy trains on from it in the next fold."""
    started = time.perf_counter()
    try:
        errors = fit_population(list(zip(strategies, windows, strict=True)))
        outcomes = [(None, _error_text(e)) if e is not None else
                    (copy.deepcopy(s) if task.spec.warm_start else s, None)
                    for s, e in zip(strategies, errors, strict=True)]
    except Exception:  # noqa: BLE001 - the fault is every member's result
        outcomes = [(None, traceback.format_exc())] * len(strategies)
    share = (time.perf_counter() - started) / len(strategies)
    return [Fit(strategy, error, share) for strategy, error in outcomes]


def _ensemble(fits: list[Fit], name: str) -> Fit:
    """The seeds' fits of one fold as one strategy (or the first member's error)."""
    seconds = sum(fit.seconds for fit in fits)
    failed = [fit.error for fit in fits if fit.error is not None]
    if failed:
        return Fit(None, failed[0], seconds)
    return Fit(SeedEnsemble([fit.strategy for fit in fits], name=name), None, seconds)


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _test_fold(column: Column, fit: Fit, fold: Fold, task: Task | PopulationTask,
               context: Context, position: Position | None,
               ) -> tuple[FoldResult, Position | None]:
    """A fitted strategy (or the error of its fit) on a fold's test window, from
    ``position``; returns the fold's result and the holdings it ended with (None after
    a failure: the next fold starts from cash)."""
    started = time.perf_counter()
    error, run = fit.error, None
    if error is None:
        try:
            run = _run_test(fit.strategy, context.env, context.panels[task.universe], fold,
                            task, position)
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            error = traceback.format_exc()
    seconds = fit.seconds + time.perf_counter() - started
    result = _fold_result(column, fit, fold, task, position, run, error, seconds)
    return result, None if run is None else run.end


def _fold_result(column: Column, fit: Fit, fold: Fold, task: Task | PopulationTask,
                 position: Position | None, run: StrategyRun | None, error: str | None,
                 seconds: float) -> FoldResult:
    """A fold's result: the run and the strategy's training log and (last fold) its
    agent file, or the error."""
    if run is None:
        return FoldResult(column.strategy, column.name, fold.index, column.seed, None, None,
                          None, error, seconds, position)
    agent = _agent_file(fit.strategy) if fold.index == task.folds[-1].index else None
    return FoldResult(column.strategy, column.name, fold.index, column.seed, run.daily,
                      run.weights, fit.strategy.training_log, None, seconds, position, agent)


def _agent_file(fitted: Strategy) -> bytes | None:
    """A trained agent as the file ``Agent.save`` writes, for acting after the test."""
    if not isinstance(fitted, RLStrategy) or fitted.agent is None:
        return None
    buffer = io.BytesIO()
    fitted.agent.save(buffer)
    return buffer.getvalue()


def _run_test(strategy: Strategy, env: EnvSpec, panel: MarketPanel, fold: Fold,
              task: Task | PopulationTask, position: Position | None) -> StrategyRun:
    """A fitted strategy on a fold's test window, through the engine."""
    sim, first, last = _test_sim(env, panel, fold, task)
    return run_strategy(strategy, sim, first, last, task.rebalance, start=position,
                        min_trade=task.min_trade)


def check_first_targets(tasks: Sequence[Task | PopulationTask], context: Context,
                        fold: Fold) -> None:
    """Fit each classical strategy on ``fold``'s training window and ask its first test
    day's target, before any task starts: a strategy that cannot meet the env's limits
    (a long-only baseline in a market-neutral book, a short leg beyond ``min_weight``)
    is one error naming it, not a failure in every fold or a folder without a baseline."""
    first_day = replace(fold, test_end=fold.test_start)
    for task in tasks:
        if not isinstance(task, Task):
            continue
        try:
            strategy = build_strategy(task.spec, context.env)
            panel = context.panels[task.universe]
            strategy.fit(panel.slice(fold.train_start, fold.train_end))
            _run_test(strategy, context.env, panel, first_day, task, None)
        except FinHgrpoError as exc:
            raise SpecError(f"strategy {task.strategy} cannot trade in this env ({fold}): "
                            f"{exc}") from None
        except Exception:  # noqa: BLE001, S112 - its own fault: recorded in its folds
            continue


def _test_sim(env: EnvSpec, panel: MarketPanel, fold: Fold, task: Task | PopulationTask,
              ) -> tuple[PortfolioSim, int, int]:
    """The simulator of a fold's training and test windows (a reference in a universe of
    its own, a benchmark, is held as ``EnvSpec.for_reference`` says), and its first and
    last test decision days."""
    dates = panel.dates
    after_test = dates[dates.get_loc(fold.test_end) + 1]  # the close the last return ends on
    if task.universe != DEFAULT_UNIVERSE:
        env = env.for_reference()
    sim = env.build_sim(panel.slice(fold.train_start, after_test))
    first, last = sim.day(fold.test_start), sim.day(fold.test_end)
    if first < sim.first_decision:
        raise DataError(f"{fold}: features need {sim.first_decision} days of history, the "
                        f"training window holds {first}")
    return sim, first, last


class _Bars:
    """Progress bars: folds done, and agents' training iterations."""

    def __init__(self, tasks: Sequence[Any], enabled: bool) -> None:
        units = [task.progress_units() for task in tasks]
        n_folds = sum(folds for folds, _ in units)
        iterations = sum(its for _, its in units)
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
