"""Combinatorial purged cross-validation (CPCV; López de Prado, *Advances in Financial
Machine Learning*, ch. 12) for strategies and agents: a distribution of out-of-sample
Sharpe ratios over many backtest paths, beside the walk-forward headline.

The decision days are cut into N groups in order. Each split tests k of them and
trains on the others, less ``purge_days`` before each test group and ``purge_days +
embargo_days`` after it; skfolio's ``CombinatorialPurgedCV`` lays the splits out. The
C(N, k) splits test every group C(N-1, k-1) times, which assemble into that many
paths, each testing every group once, in order, with one split's model per group.

A path is one investment: each group starts from the holdings the previous group ended
with (drifted, not traded, up to its first decision), so switching from one split's
model to the next is charged the cost of the trades the new model makes. An agent is
trained, once per split and seed, on the split's training segments only
(``PortfolioSim``'s segments: each segment's features from its own prices, the scaling
fitted on training rows, episodes cut at each segment's end); the members of every
split train as one population. A test group's features are the walk-forward test's:
causal, from the prices up to each day. Classical strategies that learn nothing from a
training window (the built-in ones) give the same path whatever the split; a custom
strategy is fitted on each split's longest training segment.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures import performance
from fin_hgrpo.strategies.base import Strategy
from fin_hgrpo.strategies.config import (
    AgentStrategySpec,
    StrategySpec,
    build_strategy,
    default_name,
)
from fin_hgrpo.strategies.rl import fit_population
from fin_hgrpo.threads import one_thread
from fin_hgrpo.walkforward.config import BacktestSpec, CvSpec
from fin_hgrpo.walkforward.engine import run_strategy
from fin_hgrpo.walkforward.executors import Executor, Progress
from fin_hgrpo.walkforward.results import FoldResult
from fin_hgrpo.walkforward.tasks import (
    DEFAULT_UNIVERSE,
    AgentRun,
    Context,
    chunked,
    execute,
    seed_runs,
    strategy_universe,
)

Span = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True)
class Group:
    """A block of consecutive decision days (inclusive dates)."""

    index: int
    start: pd.Timestamp
    end: pd.Timestamp
    days: int


@dataclass(frozen=True)
class Split:
    """One training combination: the training segments (inclusive dates), the groups
    it tests, and the path each of those test groups belongs to."""

    index: int
    train: tuple[Span, ...]
    tests: tuple[int, ...]
    paths: tuple[int, ...]


@dataclass(frozen=True)
class CvPlan:
    """The groups, the splits and the paths they make."""

    groups: tuple[Group, ...]
    splits: tuple[Split, ...]
    n_paths: int

    def path_splits(self) -> np.ndarray:
        """(paths, groups): the split whose model trades each group on each path."""
        table = np.full((self.n_paths, len(self.groups)), -1)
        for split in self.splits:
            for group, path in zip(split.tests, split.paths, strict=True):
                table[path, group] = split.index
        return table

    def tables(self) -> dict[str, pd.DataFrame]:
        """``groups``, ``splits`` and ``paths`` as the frames ``cv/`` holds."""
        groups = pd.DataFrame([{"group": g.index, "start": g.start.date(),
                                "end": g.end.date(), "days": g.days} for g in self.groups])
        splits = pd.DataFrame([{
            "split": s.index, "test_groups": " ".join(map(str, s.tests)),
            "paths": " ".join(map(str, s.paths)),
            "train": "; ".join(f"{a.date()}..{b.date()}" for a, b in s.train),
        } for s in self.splits])
        paths = pd.DataFrame(self.path_splits(),
                             columns=[f"group{g.index}" for g in self.groups])
        return {"groups": groups, "splits": splits,
                "paths": paths.rename_axis("path").reset_index()}


MAX_SPLITS = 1_000


def cv_plan(spec: CvSpec, dates: pd.DatetimeIndex, first_decision: int) -> CvPlan:
    """The CPCV layout over the decision days ``dates[first_decision:-1]`` (the first
    day with the features' history behind it, to the last with a next day)."""
    from skfolio.model_selection import CombinatorialPurgedCV  # 2 s to import: when used

    days = dates[first_decision:-1]
    if len(days) < spec.groups * 2:
        raise SpecError(f"cv: {len(days)} decision days cannot make {spec.groups} groups")
    count = math.comb(spec.groups, spec.test_groups)
    if count > MAX_SPLITS:  # counted before skfolio lays them out
        raise SpecError(f"cv: {spec.groups} groups tested {spec.test_groups} at a time make "
                        f"{count:,} splits, at most {MAX_SPLITS:,} (each trains every agent)")
    group_days = len(days) // spec.groups
    if spec.purge_days + spec.embargo_days >= group_days:
        raise SpecError(f"cv: purge_days {spec.purge_days} + embargo_days "
                        f"{spec.embargo_days} must be below a group's {group_days} days")
    splitter = CombinatorialPurgedCV(n_folds=spec.groups, n_test_folds=spec.test_groups,
                                     purged_size=spec.purge_days,
                                     embargo_size=spec.embargo_days)
    try:
        layout = list(splitter.split(np.zeros((len(days), 1))))
    except ValueError as exc:  # what skfolio refuses beyond the checks above
        raise SpecError(f"cv: {exc}") from None
    bounds = sorted({(int(t[0]), int(t[-1])) for _, tests in layout for t in tests})
    groups = tuple(Group(i, days[a], days[b], b - a + 1) for i, (a, b) in enumerate(bounds))
    starts = [a for a, _ in bounds]
    path_ids = splitter.get_path_ids()
    splits = []
    for i, (train, tests) in enumerate(layout):
        segments = np.split(train, np.flatnonzero(np.diff(train) > 1) + 1)
        spans = tuple((days[s[0]], days[s[-1]]) for s in segments if len(s))
        tested = tuple(starts.index(int(t[0])) for t in tests)
        splits.append(Split(i, spans, tested, tuple(int(p) for p in path_ids[i])))
    return CvPlan(groups, tuple(splits), int(splitter.n_test_paths))


@dataclass(frozen=True)
class CvTask:
    """One strategy's CPCV paths: a classical strategy (no ``runs``), or agent runs
    (seeds) whose members, one per run and split, train as one population."""

    strategy: str
    spec: StrategySpec
    plan: CvPlan
    rebalance: Rebalance
    min_trade: float
    steps: int = 0
    runs: tuple[AgentRun, ...] = ()
    universe: str = DEFAULT_UNIVERSE

    def progress_units(self) -> tuple[int, int]:
        """Path runs, and training iterations, for the progress bars."""
        runs = max(1, len(self.runs))
        iterations = (self.runs[0].config.iterations_for(self.steps) * runs
                      * len(self.plan.splits)) if self.runs else 0
        return self.plan.n_paths * runs, iterations


def plan_cv(spec: BacktestSpec, plan: CvPlan, *, quick: bool = False) -> list[CvTask]:
    """A task per classical strategy, and per agent and group of ``population_seeds``
    seeds (an agent's candidates and ensembles stay in the walk-forward)."""
    env = spec.env_spec()
    tasks = []
    for strategy in spec.strategies:
        name = default_name(strategy)
        rebalance, min_trade = spec.trading_rules(strategy)
        if not isinstance(strategy, AgentStrategySpec):
            tasks.append(CvTask(name, strategy, plan, rebalance, min_trade,
                                universe=strategy_universe(strategy, env)))
            continue
        steps = spec.quick.steps if quick else strategy.steps
        tasks += [CvTask(name, strategy, plan, rebalance, min_trade, steps, group)
                  for group in chunked(seed_runs(strategy, name, spec.seeds),
                                       spec.population_seeds)]
    return tasks


def run_cv_task(task: CvTask, context: Context, progress: Progress) -> list[FoldResult]:
    """Each run's path returns, as ``FoldResult``s whose ``fold`` is the path."""
    with one_thread():
        if task.runs:
            fitted = _train_agents(task, context, progress)
            return [result for r, run in enumerate(task.runs)
                    for result in _paths(task, context, fitted[r], run.column,
                                         run.config.seed, progress)]
        return _paths(task, context, _fit_classical(task, context), task.strategy, None,
                      progress)


def _fit_classical(task: CvTask, context: Context) -> list[tuple[Strategy | None, str | None]]:
    """Each split's fitted strategy; one shared by every split when the strategy
    learns nothing from a training window."""
    strategy = build_strategy(task.spec, context.env)
    if type(strategy).fit is Strategy.fit:
        return [(strategy, None)] * len(task.plan.splits)
    panel = context.panels[task.universe]
    fitted = []
    for split in task.plan.splits:
        own = build_strategy(task.spec, context.env)
        longest = max(split.train, key=lambda span: len(panel.slice(*span)))
        try:
            own.fit(panel.slice(*longest))
            fitted.append((own, None))
        except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
            fitted.append((None, traceback.format_exc()))
    return fitted


def _train_agents(task: CvTask, context: Context,
                  progress: Progress) -> list[list[tuple[Strategy | None, str | None]]]:
    """[run][split] fitted agents: every (run, split) member in one population."""
    panel = context.panels[task.universe]
    members = [(r, split) for r in range(len(task.runs)) for split in task.plan.splits]
    strategies = [build_strategy(task.spec, context.env, seed=task.runs[r].config.seed,
                                 steps=task.steps, agent=task.runs[r].config,
                                 min_trade=task.min_trade,
                                 progress=lambda n: progress("train", n))
                  for r, _ in members]
    fits = [(s, panel.slice(split.train[0][0], split.train[-1][1]), split.train)
            for s, (_, split) in zip(strategies, members, strict=True)]
    try:
        errors = fit_population(fits)
        outcomes = [(None, "".join(traceback.format_exception(e))) if e is not None
                    else (s, None) for s, e in zip(strategies, errors, strict=True)]
    except Exception:  # noqa: BLE001 - the fault is every member's result
        outcomes = [(None, traceback.format_exc())] * len(members)
    n = len(task.plan.splits)
    return [outcomes[r * n:(r + 1) * n] for r in range(len(task.runs))]


def _paths(task: CvTask, context: Context, fitted: list[tuple[Strategy | None, str | None]],
           column: str, seed: int | None, progress: Progress) -> list[FoldResult]:
    """Each path as one investment through its groups' models; a failed model ends
    the path's record with its error."""
    table, sims = task.plan.path_splits(), {}
    shared = len({id(s) for s, _ in fitted}) == 1 and fitted[0][1] is None
    results: list[FoldResult] = []
    for path in range(task.plan.n_paths):
        started = time.perf_counter()
        if shared and results:  # every path is the same investment
            first = results[0]
            results.append(FoldResult(task.strategy, column, path, seed, first.daily, None,
                                      None, first.error, 0.0))
            progress("fold", 1)
            continue
        daily, error, position = [], None, None
        for group in task.plan.groups:
            strategy, error = fitted[table[path, group.index]]
            if error is not None:
                break
            try:
                run, position = _run_group(strategy, context, sims, group, task, position)
            except Exception:  # noqa: BLE001 - a strategy's fault is a result, not a crash
                error = traceback.format_exc()
                break
            daily.append(run)
        frame = pd.concat(daily) if daily and error is None else None
        results.append(FoldResult(task.strategy, column, path, seed, frame, None, None, error,
                                  time.perf_counter() - started))
        progress("fold", 1)
    return results


def _run_group(strategy: Strategy, context: Context, sims: dict, group: Group, task: CvTask,
               position: Position | None) -> tuple[pd.DataFrame, Position]:
    """The strategy over one test group, from ``position``, with the walk-forward
    test's causal features (every price up to the group's last return)."""
    if group.index not in sims:
        panel = context.panels[task.universe]
        after = panel.dates[panel.dates.get_loc(group.end) + 1]
        sims[group.index] = context.env.build_sim(panel.slice(None, after))
    sim = sims[group.index]
    run = run_strategy(strategy, sim, sim.day(group.start), sim.day(group.end), task.rebalance,
                       start=position, min_trade=task.min_trade)
    return run.daily, run.end


def cv_plan_of(spec: CvSpec, env: EnvSpec, panel: MarketPanel) -> CvPlan:
    """The CPCV plan over ``panel``, whose first decision day the env's features
    decide."""
    return cv_plan(spec, panel.dates, env.build_sim(panel).first_decision)


def run_cv(spec: BacktestSpec, plan: CvPlan, context: Context, executor: Executor, *,
           quick: bool = False, progress: bool = True, checkpoint: str | Path | None = None,
           ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every strategy's CPCV paths of ``plan`` (``cv_plan_of``, laid out before any
    work): ``gather_cv``'s tables, and the errors (one per failed path, with its
    traceback)."""
    env, panel = context.env, context.panels[DEFAULT_UNIVERSE]
    tasks = plan_cv(spec, plan, quick=quick)
    outcomes = execute(tasks, context, executor, progress=progress, checkpoint=checkpoint,
                       fn=run_cv_task)
    results = [r for outcome in outcomes for r in outcome]
    errors = [f"cv: {r.column}, path {r.fold}:\n{r.error}" for r in results
              if r.error is not None]
    return gather_cv(plan, results, spec.baseline, rf=env.cash_returns(panel),
                     periods=env.periods(panel)), errors


def gather_cv(plan: CvPlan, results: list[FoldResult], baseline: str | None, *,
              rf: performance.CashRate = 0.0, periods: int = performance.PERIODS
              ) -> dict[str, pd.DataFrame]:
    """What ``cv/`` holds: the plan's ``groups``, ``splits`` and ``paths``; ``returns``
    (daily, a column ``<run>/path<p>`` per run and path); ``path_metrics`` (per run and
    path: Sharpe, turnover, and the baseline's Sharpe on the same path); ``metrics`` (per
    strategy, over its paths and seeds: mean, std, 5/50/95% quantiles of the Sharpe,
    P(Sharpe < 0), P(below the baseline on the same path))."""
    done = [r for r in results if r.daily is not None]
    returns = pd.DataFrame({f"{r.column}/path{r.fold}": r.daily["net_return"] for r in done})
    rows = pd.DataFrame([{
        "strategy": r.strategy, "run": r.column, "seed": r.seed, "path": r.fold,
        "sharpe": performance.sharpe(r.daily["net_return"], rf=rf, periods=periods),
        "cagr": performance.cagr(r.daily["net_return"], periods=periods),
        "max_drawdown": performance.max_drawdown(r.daily["net_return"]),
        "turnover": r.daily["turnover"].mean() * periods,
    } for r in done], columns=["strategy", "run", "seed", "path", "sharpe", "cagr",
                               "max_drawdown", "turnover"])
    base = rows[rows["strategy"] == baseline].groupby("path")["sharpe"].mean()
    rows["baseline_sharpe"] = rows["path"].map(base) if len(base) else np.nan
    metrics = pd.DataFrame({name: _distribution(group)
                            for name, group in rows.groupby("strategy", sort=False)}).T
    return plan.tables() | {"returns": returns.rename_axis("date"), "path_metrics": rows,
                            "metrics": metrics.rename_axis("strategy").reset_index()}


def _distribution(rows: pd.DataFrame) -> pd.Series:
    sharpe = rows["sharpe"].to_numpy(dtype=float)
    compared = rows["baseline_sharpe"].notna()
    below = (rows["sharpe"] < rows["baseline_sharpe"])[compared]
    return pd.Series({
        "paths": rows["path"].nunique(), "runs": len(rows),
        "sharpe_mean": sharpe.mean(),
        "sharpe_std": sharpe.std(ddof=1) if len(sharpe) > 1 else 0.0,
        "sharpe_p05": np.quantile(sharpe, 0.05), "sharpe_median": np.median(sharpe),
        "sharpe_p95": np.quantile(sharpe, 0.95),
        "p_sharpe_below_0": float((sharpe < 0).mean()),
        "p_below_baseline": float(below.mean()) if compared.any() else math.nan,
        "turnover": rows["turnover"].mean(),
    })
