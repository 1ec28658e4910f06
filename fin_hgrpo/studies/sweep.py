"""Hyperparameter sweeps: an Optuna study (``studies.optuna_study``: TPE, CMA-ES, random or
grid) over an agent's hyperparameters, each trial judged with every seed by a
walk-forward on the training folds only.

The backtest spec's last ``holdout_folds`` folds are never seen by the search (keep
them for the final out-of-sample test of the winner); every trial is trained and tested
on each earlier fold with the backtest's protocol (its agent strategy's validation days,
early stopping and no-trade band), and its validation Sharpe is the mean over seeds of
each seed's Sharpe on its stitched test returns. Trials run as tasks on the backtest's
executor (the local pool or Ray), with the same checkpointing; trials that differ only
in seed, learning rate, weight decay or entropy coefficient train together as one
population task (``population_seeds`` runs at a time, as the backtest spec says),
``parallel`` trials a round. The table ranks trials by validation Sharpe; the winner's
PSR and DSR are the means over its seeds of each seed's (one seed is what would be
deployed), the DSR counting every trial as a try, which is what a search costs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import optuna
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fin_hgrpo.algos import AgentConfig, configs_at, load_agent_config
from fin_hgrpo.config import load_spec
from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import atomic_write, atomic_write_text, check_replaceable
from fin_hgrpo.measures import performance
from fin_hgrpo.measures.overfitting import pbo_of_runs
from fin_hgrpo.provenance import file_sha256, panel_sha256, write_manifest
from fin_hgrpo.reports.sweep import page, study_plots
from fin_hgrpo.strategies.config import AgentStrategySpec, check_space
from fin_hgrpo.studies.optuna_study import (
    STUDY_FILE,
    Outcome,
    Pruning,
    check_budget,
    claim,
    open_study,
    run_rounds,
    stitched,
    storage_of,
)
from fin_hgrpo.tensorboard import write_training_logs
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.executors import Executor, make_executor
from fin_hgrpo.walkforward.results import training_logs
from fin_hgrpo.walkforward.tasks import (
    DEFAULT_UNIVERSE,
    AgentRun,
    Context,
    PopulationTask,
    execute,
    populations,
)


class Range(BaseModel):
    """A range to search: [low, high] (on a log scale with ``log``; whole numbers with
    ``integer``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"needs low < high (and low > 0 with log), got {self.low}, "
                             f"{self.high}")
        return self


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # results go to backtests/results/<name>
    backtest: str  # backtest spec: env, walk-forward, executor
    agent: str  # agent spec whose hyperparameters vary
    steps: int = Field(default=20_000, ge=1)  # training states per fold and trial
    seeds: list[int] = Field(default=[0], min_length=1)
    holdout_folds: int = Field(default=1, ge=0)
    search: Literal["tpe", "cmaes", "random", "grid"] = "tpe"
    trials: int | None = Field(default=None, ge=1)  # how many (default 10; a grid: its size)
    parallel: int = Field(default=4, ge=1)  # trials asked, and trained together, a round
    # stop a trial whose running validation Sharpe after a search fold is below the
    # others' at that fold (median), or by Optuna's hyperband; none: every trial runs out
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int = 0  # the sampler's
    space: dict[str, list | Range] = Field(min_length=1)
    # the training protocol; default: the backtest's agent strategy running this agent
    # spec (or its first agent strategy)
    validation_days: int | None = Field(default=None, ge=0)
    validate_every: int | None = Field(default=None, ge=1)

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, space: object) -> object:
        """Each key a list of values or a range (``{low, high}``), named when neither."""
        if isinstance(space, dict):
            for key, value in space.items():
                if isinstance(value, dict):
                    try:
                        Range.model_validate(value)
                    except ValidationError as exc:
                        raise ValueError(f"space.{key}: {exc.errors()[0]['msg']}") from None
                elif not isinstance(value, list):
                    raise ValueError(f"space.{key}: a list of values or a range "
                                     f"{{low, high}}, got {value!r}")
            check_space(space)
        return space

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        spec = load_spec(path, cls)
        spec.trial_configs(str(path))  # every trial's config is valid before any work
        try:
            BacktestSpec.load(spec.backtest)
        except SpecError as exc:
            raise SpecError(f"{path}: key backtest: {exc}") from None
        return spec

    def budget(self, source: str = "sweep") -> int:
        """How many trials the study runs."""
        if self.search == "grid":
            ranged = [k for k, v in self.space.items() if isinstance(v, Range)]
            if ranged:
                raise SpecError(f"{source}: key space.{ranged[0]}: a grid needs a list of "
                                "values (ranges are for tpe, cmaes and random)")
        try:
            return check_budget(self.search, self.space, self.trials)
        except SpecError as exc:
            raise SpecError(f"{source}: key trials: {exc}") from None

    def corners(self) -> list[dict]:
        """Every list value against each range's ends: the points whose configs are
        checked before any work (what a trial asks lies between them)."""
        axes = [v if isinstance(v, list) else [int(v.low), int(v.high)] if v.integer
                else [v.low, v.high] for v in self.space.values()]
        return [dict(zip(self.space, values, strict=True))
                for values in itertools.product(*axes)]

    def trial_configs(self, source: str = "sweep") -> list[AgentConfig]:
        """The configs at ``corners``: a key or value the agent spec refuses is one
        error before any work."""
        self.budget(source)
        return configs_of(self, self.corners(), source)


def configs_of(spec: SweepSpec, points: list[dict], source: str = "sweep") -> list[AgentConfig]:
    """The agent spec's config at each point of the space."""
    try:
        base = load_agent_config(spec.agent)
    except SpecError as exc:
        raise SpecError(f"{source}: key agent: {exc}") from None
    return configs_at(base, points, source)


@dataclass
class SweepResult:
    """``trials``: one row per trial, best validation Sharpe first; ``returns``: each
    trial's validation returns per seed (``trial<k>_seed<s>``); ``summary``: the winner
    with its PSR and DSR."""

    trials: pd.DataFrame
    returns: pd.DataFrame
    summary: dict
    study: optuna.Study


def run_sweep(spec: SweepSpec, out: str | Path, *, storage: str | None = None,
              study_name: str | None = None, executor: Executor | None = None,
              workers: int | None = None, progress: bool = True,
              checkpoint: str | Path | None = None,
              tensorboard: str | Path | None = None) -> SweepResult:
    """Run the study (in ``storage``, default a journal file in ``out``; ``study_name``,
    default the spec's name) until it holds its trials, and rank them; ``tensorboard``:
    a folder that gets every trial's training metrics, one run per seed and fold."""
    backtest = BacktestSpec.load(spec.backtest)
    env = backtest.env_spec()
    panel = env.load_panel()
    folds = backtest.walk_forward.splitter(env.periods(panel)).split(panel.dates)
    search_folds = folds[:len(folds) - spec.holdout_folds]
    if not search_folds:
        raise SpecError(f"sweep {spec.name}: {len(folds)} folds leave none to search on "
                        f"after holding out {spec.holdout_folds}")
    strategy = _protocol(spec, backtest)
    rebalance, min_trade = backtest.trading_rules(strategy)
    executor = executor or make_executor(backtest.executor, workers=workers or backtest.workers,
                                         ray_address=backtest.ray_address)
    context = Context(env, {DEFAULT_UNIVERSE: panel})
    rf, periods = env.cash_returns(panel), env.periods(panel)

    def evaluate(asked: list) -> list[Outcome]:
        configs = configs_of(spec, [trial.params for trial in asked])
        trials = dict(zip((t.number for t in asked), configs, strict=True))
        pruning = None if spec.pruner == "none" else Pruning(
            storage, str(out), study.study_name, spec.pruner, len(search_folds), spec.parallel,
            tuple((f"trial{t.number}", t._trial_id) for t in asked))  # the id a worker reports to
        tasks = [PopulationTask(strategy, group, tuple(search_folds), rebalance, min_trade,
                                spec.steps, pruning=pruning)
                 for together in _populations(trials, spec.seeds)
                 for group in _whole_trials(together, backtest.population_seeds)]
        outcomes = execute(tasks, context, executor, progress=progress, checkpoint=checkpoint)
        results = [r for outcome in outcomes for r in outcome]
        if tensorboard is not None:
            write_training_logs(Path(tensorboard) / spec.name, training_logs(results))
        return [_outcome(t.number, spec.seeds, results, rf, periods, len(search_folds))
                for t in asked]

    started = time.perf_counter()
    study = open_study(study_name or spec.name, storage_of(storage, Path(out)))
    claim(study, _fingerprint(spec, backtest, panel))
    run_rounds(study, spec.space, search=spec.search, seed=spec.seed, trials=spec.budget(),
               parallel=spec.parallel, evaluate=evaluate)
    table, returns = _rank(study, spec)
    summary = _summary(spec, table, returns, search_folds, folds, rf,
                       time.perf_counter() - started) | {"data_sha256": panel_sha256(panel),
                                                        "study": study.study_name}
    return SweepResult(table, returns, summary, study)


def _fingerprint(spec: SweepSpec, backtest: BacktestSpec, panel) -> str:
    """What a study's trials compute: the sweep spec but its budget, rounds, sampler and
    name (a study may go on with more trials or another sampler), the content of every
    file it reads, and the prices. A study made by another is never continued."""
    files = [spec.backtest, spec.agent, *backtest.files()]
    kept = spec.model_dump(mode="json", exclude={"name", "trials", "parallel", "search", "seed"})
    payload = json.dumps({"spec": kept,
                          "files": {f: file_sha256(f) for f in files},
                          "data": panel_sha256(panel)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _outcome(number: int, seeds: list[int], results: list, rf: performance.CashRate,
             periods: int, folds: int) -> Outcome:
    """A trial's value (the mean over seeds of each seed's validation Sharpe; None if a
    seed failed), whether its pruner stopped it before the last of the ``folds``, and
    what the table and the DSR need, kept in the study with it."""
    errors, daily, run = [], {}, 0
    for seed in seeds:
        parts = [r for r in results if r.column == f"trial{number}_seed{seed}"]
        errors += [r.error.strip().splitlines()[-1] for r in parts if r.error]
        run = max(run, len(parts))
        if parts and not any(r.error for r in parts):
            daily[str(seed)] = stitched(parts)
    sharpes = [performance.sharpe(r, rf=rf, periods=periods) for r in daily.values()]
    returns = {seed: {"dates": [str(d.date()) for d in r.index], "values": r.tolist()}
               for seed, r in daily.items()}

    def seed_mean(metric) -> float | None:
        return float(np.mean([metric(r) for r in daily.values()])) if daily else None

    attrs = {"val_sharpe_std": float(np.std(sharpes, ddof=1)) if len(sharpes) > 1 else None,
             "val_cagr": seed_mean(lambda r: performance.cagr(r, periods)),
             "val_max_drawdown": seed_mean(performance.max_drawdown),
             "seeds_done": len(sharpes), "folds_run": run, "error": "; ".join(errors),
             "returns": returns}
    value = float(np.mean(sharpes)) if len(sharpes) == len(seeds) else None
    return Outcome(value, attrs, pruned=value is not None and run < folds)


def _whole_trials(runs: tuple[AgentRun, ...],
                  size: int | None) -> list[tuple[AgentRun, ...]]:
    """``runs`` in chunks of about ``size`` (None: one) that never split a trial's seeds
    (a trial's running value, which its pruner judges, is the mean over all of them)."""
    chunks: list[list[AgentRun]] = []
    for run in runs:
        if chunks and (run.strategy == chunks[-1][-1].strategy or size is None
                       or len(chunks[-1]) < size):
            chunks[-1].append(run)
        else:
            chunks.append([run])
    return [tuple(chunk) for chunk in chunks]


def _populations(trials: dict[int, AgentConfig],
                 seeds: list[int]) -> list[tuple[AgentRun, ...]]:
    """Every (trial, seed) run, by trial number, grouped into populations
    (``tasks.populations``)."""
    return populations([AgentRun(f"trial{k}", f"trial{k}_seed{seed}",
                                 config.model_copy(update={"seed": seed}))
                        for k, config in trials.items() for seed in seeds])


def _protocol(spec: SweepSpec, backtest: BacktestSpec) -> AgentStrategySpec:
    """The agent strategy the trials run as: the backtest's own for this agent spec (or
    its first agent), with the sweep's budget and any protocol keys the sweep sets."""
    agents = [s for s in backtest.strategies if isinstance(s, AgentStrategySpec)]
    same = [s for s in agents if Path(s.spec) == Path(spec.agent)]
    base = (same or agents or [AgentStrategySpec(kind="agent", spec=spec.agent)])[0]
    update = {"spec": spec.agent, "steps": spec.steps, "ensemble": False, "name": None}
    for key in ("validation_days", "validate_every"):
        if getattr(spec, key) is not None:
            update[key] = getattr(spec, key)
    return base.model_copy(update=update)


def _rank(study, spec: SweepSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per trial of the study that finished or failed on its own (not the ones
    a dead process left, asked again), best validation Sharpe first; and each finished
    trial's returns per seed (``trial<k>_seed<s>``)."""
    rows, daily = [], {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        attrs = trial.user_attrs
        if "seeds_done" not in attrs:  # left running by a dead process, or surplus
            continue
        for seed, r in attrs["returns"].items():
            daily[f"trial{trial.number}_seed{seed}"] = pd.Series(
                r["values"], index=pd.to_datetime(r["dates"]))
        rows.append({"trial": trial.number, **trial.params,
                     "val_sharpe": trial.value if trial.value is not None else np.nan,
                     **{key: np.nan if attrs[key] is None else attrs[key]
                        for key in ("val_sharpe_std", "val_cagr", "val_max_drawdown")},
                     "seeds_done": attrs["seeds_done"], "folds_run": attrs.get("folds_run"),
                     "error": attrs["error"], "state": trial.state.name.lower()})
    table = pd.DataFrame(rows)
    table["order"] = table["state"].map({"complete": 0, "pruned": 1}).fillna(2)
    table = table.sort_values(["order", "val_sharpe"], ascending=[True, False],
                              na_position="last").drop(columns="order")
    returns = pd.DataFrame(daily).rename_axis("date")
    return table.reset_index(drop=True), returns.sort_index()


def _summary(spec: SweepSpec, table: pd.DataFrame, returns: pd.DataFrame, search_folds, folds,
             rf: performance.CashRate, seconds: float) -> dict:
    summary = {"name": spec.name, "trials": len(table), "seeds": spec.seeds,
               "search_folds": [str(f) for f in search_folds],
               "held_out": [str(f) for f in folds[len(search_folds):]],
               "seconds": round(seconds, 1)}
    best = table.iloc[0]
    if np.isfinite(best["val_sharpe"]):
        runs = {int(k): [returns[c].dropna() for c in returns if c.startswith(f"trial{k}_seed")]
                for k in table["trial"]}  # every trial a try, pruned ones too
        trials = np.array([np.mean([performance.sharpe(r, annualize=False, rf=rf) for r in seeds])
                           if seeds else np.nan for seeds in runs.values()])
        winner = runs[int(best["trial"])]
        summary |= {"winner": int(best["trial"]), "winner_val_sharpe": float(best["val_sharpe"]),
                    "winner_dsr": float(np.mean([performance.dsr(r, trials, rf=rf)
                                                 for r in winner])),
                    "winner_psr": float(np.mean([performance.psr(r, rf=rf) for r in winner]))}
        complete = table.loc[table["state"] == "complete", "trial"]
        summary |= _overfitting(returns, list(complete), spec.seeds, rf)
    return summary


def _overfitting(returns: pd.DataFrame, trials: list[int], seeds: list[int],
                 rf: performance.CashRate) -> dict:
    """The probability that the trial best in sample is overfit (PBO by CSCV over every
    trial whose every seed finished, on the days all of them have), or nothing when
    fewer than two trials did."""
    done = [[f"trial{k}_seed{s}" for s in seeds] for k in trials]
    done = [columns for columns in done if all(c in returns for c in columns)]
    found = pbo_of_runs(returns, done, rf=rf) if len(done) >= 2 else None
    if found is None:
        return {}
    return {f"overfitting_{key}": value for key, value in found[0].summary().items()}


def save_sweep(result: SweepResult, out: str | Path, *, manifest: dict | None = None) -> Path:
    """``trials.csv`` (ranked), ``returns.csv``, ``summary.json``, ``report.html`` with
    its plots and the ``manifest`` (provenance) in ``out``, each file written
    atomically beside the study's journal, which other workers may still be writing."""
    out = Path(out)
    check_replaceable(out, ("trials.csv", STUDY_FILE))
    if manifest is not None:
        write_manifest(out, manifest)
    atomic_write(out / "trials.csv", lambda tmp: result.trials.to_csv(tmp, index=False))
    atomic_write(out / "returns.csv", lambda tmp: result.returns.to_csv(tmp))
    atomic_write_text(out / "summary.json", json.dumps(result.summary, indent=2, default=str))
    images = study_plots(result.study)
    for name, data in images.items():
        atomic_write(out / "plots" / f"{name}.png", lambda tmp, data=data: tmp.write_bytes(data))
    atomic_write_text(out / "report.html", page(result.summary, result.trials, images))
    return out


__all__ = ["Range", "SweepResult", "SweepSpec", "run_sweep", "save_sweep"]
