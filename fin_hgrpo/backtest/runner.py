"""A walk-forward backtest from a spec: plan the tasks, run them, gather the results,
save them.

``walkforward.tasks`` plans and runs the tasks (a classical strategy's run over its folds,
an agent's seeds as one population); this module loads the data, gathers the fold
results into a ``BacktestResult`` with the notes a reader of it must see, and writes
its folder atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.rates import cash_rate_notes
from fin_hgrpo.data.validation import suspicious_moves
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError
from fin_hgrpo.io import atomic_directory
from fin_hgrpo.provenance import panel_sha256, write_manifest
from fin_hgrpo.reports.backtest import write_report, write_tearsheets
from fin_hgrpo.strategies.config import default_name
from fin_hgrpo.studies.cpcv import cv_plan_of, run_cv
from fin_hgrpo.studies.selection import (
    best_candidates,
    candidate_overfitting,
    select_all,
    switching_on,
)
from fin_hgrpo.tensorboard import write_training_logs
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.executors import Executor, make_executor
from fin_hgrpo.walkforward.results import BacktestResult, gather, training_logs
from fin_hgrpo.walkforward.splits import Fold
from fin_hgrpo.walkforward.tasks import (
    DEFAULT_UNIVERSE,
    Context,
    PopulationTask,
    Task,
    check_first_targets,
    execute,
    plan,
    plan_inner,
)

# more writing into a result folder while it is staged: ``extra(staging, shown_as)``,
# ``shown_as`` the folder's final name (risk reports, from ``fin_hgrpo.risk``)
Extra = Callable[[Path, Path], object]


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
    _check_env(spec, env, panel, folds[0])
    cv = None if spec.cv is None else cv_plan_of(spec.cv, env, panel)  # refused before work
    tasks = plan(spec, folds, quick=quick)
    inner = plan_inner(spec, folds, panel.dates, quick=quick)  # for inner_wf rules
    context = Context(env, _panels(env, panel, tasks))
    try:
        check_first_targets(tasks, context, folds[0])
    except SpecError as exc:
        raise SpecError(f"{spec.name}: {exc}") from None
    executor = executor or make_executor(spec.executor, workers=workers or spec.workers,
                                         ray_address=spec.ray_address)
    started = time.perf_counter()
    outcomes = execute([*tasks, *(task for _, task in inner)], context, executor,
                       progress=progress, checkpoint=checkpoint)
    results = [r for outcome in outcomes[:len(tasks)] for r in outcome]
    inner_results = [(outer, r) for (outer, _), outcome in zip(inner, outcomes[len(tasks):],
                                                               strict=True) for r in outcome]
    if results and all(r.error is not None for r in results):
        raise FinHgrpoError(f"{spec.name}: every strategy failed in every fold; the first "
                            f"error:\n{results[0].error}")
    if tensorboard is not None:
        write_training_logs(Path(tensorboard) / spec.name, training_logs(results))
    rf = env.cash_returns(panel)  # a dated rate's file, read once
    selection = select_all(spec, folds, results, switching_on(env, panel),
                           rf=rf, periods=env.periods(panel),
                           inner=inner_results)
    if selection is not None:
        results += selection.results
    result = gather(spec, folds, results, seconds=time.perf_counter() - started,
                    periods=env.periods(panel), rf=rf)
    if selection is not None:
        result.selection = {"choices": selection.choices, "foresight": selection.foresight,
                            "candidates": selection.candidates,
                            "spa": best_candidates(result, spec),
                            "pbo": candidate_overfitting(result, spec)}
    if cv is not None:
        result.cv, cv_errors = run_cv(spec, cv, context, executor, quick=quick,
                                      progress=progress, checkpoint=checkpoint)
        result.errors += cv_errors
    result.info |= data_notes(env, panel) | {"data_sha256": panel_sha256(panel)}
    result.info["data_warnings"] += capped_universes(env, context.panels, tasks)
    result.info["data_warnings"] += oversized_windows(spec, panel, folds[0])
    if result.deploy is not None:  # what a replay of the last fold must read unchanged
        window = panel.slice(folds[-1].train_start, folds[-1].test_end)
        result.deploy = result.deploy.model_copy(update={"prices_sha256": panel_sha256(window)})
    return result



def capped_universes(env: EnvSpec, panels: dict[str, MarketPanel],
                     tasks: list[Task | PopulationTask]) -> list[str]:
    """A warning for each strategy whose universe ``max_weight`` cannot fill: the rest
    is held as cash (a one-asset benchmark under max_weight 0.1 is 10% of it)."""
    cap = env.constraints.max_weight
    references_uncapped = env.long_only() is not env  # held long-only (tasks._run_test)
    found = []
    for task in tasks:
        if references_uncapped and task.universe != DEFAULT_UNIVERSE:
            continue
        n_assets = panels[task.universe].n_assets
        if cap * n_assets < 1.0:
            name = task.strategy if isinstance(task, Task) else task.runs[0].strategy
            found.append(f"max_weight {cap:g} caps {name}'s {n_assets} asset(s) at "
                         f"{cap * n_assets:.0%} of wealth; the rest is held as cash")
    return found


def oversized_windows(spec: BacktestSpec, panel: MarketPanel, first: Fold) -> list[str]:
    """A warning for each classical strategy asked for more than the data holds: a
    lookback beyond the training window (it uses what there is), or a top_k that holds
    every asset (momentum is then 1/N)."""
    days = len(panel.slice(first.train_start, first.train_end))
    found = []
    for strategy in spec.strategies:
        name = default_name(strategy)
        lookback, top_k = getattr(strategy, "lookback", None), getattr(strategy, "top_k", None)
        if lookback is not None and lookback > days:
            found.append(f"{name}: lookback {lookback} is longer than the first training "
                         f"window ({days} days); it uses the days there are")
        if top_k is not None and top_k >= panel.n_assets:
            found.append(f"{name}: top_k {top_k} holds every one of the {panel.n_assets} "
                         "assets: it ranks nothing")
    return found


def _check_env(spec: BacktestSpec, env: EnvSpec, panel: MarketPanel, first: Fold) -> None:
    """Build the env on the first fold's training window before any task starts: a
    window, feature or constraint the data cannot serve is one error naming the env
    file, not a failure recorded in every task."""
    try:
        env.build_sim(panel.slice(first.train_start, first.train_end))
    except FinHgrpoError as exc:
        raise type(exc)(f"{spec.env}: {exc}") from None


DROPPED_WARNING = 0.01  # share of dates alignment may drop before a backtest says so


def data_notes(env: EnvSpec, panel: MarketPanel) -> dict:
    """What a reader of the results must know about the data: the source, what alignment
    dropped, and a warning when it dropped more than 1% of the dates, when a price moves
    as only a bad tick or an unadjusted split would, or when the universe is the bundled
    sample's survivors."""
    report = panel.report
    share = report.n_dropped / (len(panel) + report.n_dropped)
    warnings = []
    if share > DROPPED_WARNING:
        warnings.append(f"alignment dropped {share:.0%} of the dates ({report.summary()}): "
                        f"the backtest covers {panel.dates[0].date()} .. "
                        f"{panel.dates[-1].date()} only")
    warnings += [f"check the prices: {move}" for move in suspicious_moves(panel.prices)]
    measured, used = panel.periods_per_year, env.periods(panel)
    if not 0.5 <= used / measured <= 2.0:
        warnings.append(f"periods_per_year = {used} in the env spec, but the dates have "
                        f"{measured} bars a year: every annualised figure (CAGR, volatility, "
                        f"Sharpe, turnover) is scaled by {used} bars")
    if isinstance(env.costs.cash_rate, str):
        warnings += cash_rate_notes(env.costs.cash_rate, panel.dates)
    if env.data.source == "sample":
        warnings.append("the bundled sample's names are survivors picked in hindsight (they "
                        "all still traded in 2024, several were its best performers): "
                        "absolute figures (CAGR, Sharpe, alpha) are inflated for every "
                        "strategy, most for those that chase winners; compare strategies "
                        "with each other, not with the market")
    return {"source": env.data.source, "alignment": report.summary(),
            "dropped_share": share, "data_warnings": warnings}


def save_backtest(result: BacktestResult, out: str | Path, *, tearsheets: bool = True,
                  manifest: dict | None = None, extras: Sequence[Extra] = ()) -> Path:
    """Write the result files, tearsheets, report and ``manifest`` (provenance) into
    ``out``, atomically (a killed run leaves the previous folder, or none, never half a
    new one). ``extras`` write more into the staged folder before the report links it
    (the CLI passes ``fin_hgrpo.risk.write_risk_reports`` with the tearsheets)."""
    out = Path(out)
    with atomic_directory(out, "run.json") as staging:
        result.write(staging)
        if manifest is not None:
            write_manifest(staging, manifest)
        if tearsheets:
            write_tearsheets(staging)
        for extra in extras:
            extra(staging, out)
        write_report(staging)
    return out


def _panels(env: EnvSpec, panel: MarketPanel,
            tasks: list[Task | PopulationTask]) -> dict[str, MarketPanel]:
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

