"""Hyperparameter sweeps: a grid or random search over an agent's hyperparameters and
seeds, each trial judged by a walk-forward on the training folds only.

The backtest spec's last ``holdout_folds`` folds are never seen by the search (keep
them for the final out-of-sample test of the winner); every trial is trained and tested
on each earlier fold, and its validation Sharpe is the Sharpe of its stitched test
returns, averaged over seeds. Trials run as tasks on the backtest's executor (the local
pool or Ray), with the same checkpointing. The table ranks trials by validation Sharpe;
the winner's deflated Sharpe counts every trial as a try, which is what a search costs.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fin_hgrpo.algos import AgentConfig, load_agent_config
from fin_hgrpo.backtest import metrics
from fin_hgrpo.backtest.config import BacktestSpec
from fin_hgrpo.backtest.executors import Executor, make_executor
from fin_hgrpo.backtest.runner import DEFAULT_UNIVERSE, Context, Task, execute
from fin_hgrpo.config import load_spec, validate_spec
from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import atomic_directory
from fin_hgrpo.strategies.config import AgentStrategySpec


class Range(BaseModel):
    """A random-search range: uniform in [low, high] (of the log with ``log``)."""

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

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.log:
            value = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        else:
            value = float(rng.uniform(self.low, self.high))
        return int(round(value)) if self.integer else value


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # results go to backtests/results/<name>
    backtest: str  # backtest spec: env, walk-forward, executor
    agent: str  # agent spec whose hyperparameters vary
    steps: int = Field(default=20_000, ge=1)  # training states per fold and trial
    seeds: list[int] = Field(default=[0], min_length=1)
    holdout_folds: int = Field(default=1, ge=0)
    search: Literal["grid", "random"] = "grid"
    trials: int = Field(default=10, ge=1)  # random search: how many
    seed: int = 0  # random search: which points
    space: dict[str, list | Range] = Field(min_length=1)

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        spec = load_spec(path, cls)
        spec.trial_configs(str(path))  # every trial's config is valid before any work
        try:
            BacktestSpec.load(spec.backtest)
        except SpecError as exc:
            raise SpecError(f"{path}: key backtest: {exc}") from None
        return spec

    def points(self, source: str = "sweep") -> list[dict]:
        """The hyperparameters of each trial."""
        if self.search == "grid":
            ranged = [k for k, v in self.space.items() if isinstance(v, Range)]
            if ranged:
                raise SpecError(f"{source}: key space.{ranged[0]}: a grid needs a list of "
                                f"values (ranges are for search = \"random\")")
            keys = list(self.space)
            return [dict(zip(keys, values, strict=True))
                    for values in itertools.product(*self.space.values())]
        rng = np.random.default_rng(self.seed)
        return [{k: (v.draw(rng) if isinstance(v, Range) else v[rng.integers(len(v))])
                 for k, v in self.space.items()} for _ in range(self.trials)]

    def trial_configs(self, source: str = "sweep") -> list[AgentConfig]:
        try:
            base = load_agent_config(self.agent)
        except SpecError as exc:
            raise SpecError(f"{source}: key agent: {exc}") from None
        configs = []
        for point in self.points(source):
            unknown = [k for k in point if k not in type(base).model_fields]
            if unknown:
                raise SpecError(f"{source}: key space.{unknown[0]}: not a hyperparameter of "
                                f"{base.algorithm}")
            try:
                configs.append(validate_spec({**base.model_dump(), **point}, type(base), source))
            except SpecError as exc:
                raise SpecError(str(exc).replace(": key ", ": key space.", 1)) from None
        return configs


@dataclass
class SweepResult:
    """``trials``: one row per trial, best validation Sharpe first; ``returns``: each
    trial's validation returns (mean over seeds); ``summary``: the winner and its DSR."""

    trials: pd.DataFrame
    returns: pd.DataFrame
    summary: dict


def run_sweep(spec: SweepSpec, *, executor: Executor | None = None, workers: int | None = None,
              progress: bool = True, checkpoint: str | Path | None = None) -> SweepResult:
    """Run every trial on the search folds and rank them."""
    backtest = BacktestSpec.load(spec.backtest)
    env = backtest.env_spec()
    panel = env.load_panel()
    folds = backtest.walk_forward.splitter().split(panel.dates)
    search_folds = folds[:len(folds) - spec.holdout_folds]
    if not search_folds:
        raise SpecError(f"sweep {spec.name}: {len(folds)} folds leave none to search on "
                        f"after holding out {spec.holdout_folds}")
    points, configs = spec.points(), spec.trial_configs()
    strategy = AgentStrategySpec(kind="agent", spec=spec.agent, steps=spec.steps)
    tasks = [Task(f"trial{k}", strategy, seed, (fold,), DEFAULT_UNIVERSE, backtest.rebalance,
                  spec.steps, config)
             for k, config in enumerate(configs) for seed in spec.seeds for fold in search_folds]
    executor = executor or make_executor(backtest.executor, workers=workers or backtest.workers,
                                         ray_address=backtest.ray_address)
    started = time.perf_counter()
    outcomes = execute(tasks, Context(env, {DEFAULT_UNIVERSE: panel}), executor,
                       progress=progress, checkpoint=checkpoint)
    results = [r for outcome in outcomes for r in outcome]
    table, returns = _rank(points, spec.seeds, results)
    summary = _summary(spec, table, returns, search_folds, folds, time.perf_counter() - started)
    return SweepResult(table, returns, summary)


def _rank(points: list[dict], seeds: list[int], results: list) -> tuple[pd.DataFrame,
                                                                        pd.DataFrame]:
    rows, daily = [], {}
    for k, point in enumerate(points):
        per_seed, errors = {}, []
        for seed in seeds:
            parts = [r for r in results if r.column == f"trial{k}" and r.seed == seed]
            errors += [r.error.strip().splitlines()[-1] for r in parts if r.error]
            if parts and not any(r.error for r in parts):
                per_seed[seed] = pd.concat([r.daily["net_return"] for r in parts])
        sharpes = [metrics.sharpe(r) for r in per_seed.values()]
        mean_returns = pd.concat(per_seed.values(), axis=1).mean(axis=1) if per_seed else None
        if mean_returns is not None:
            daily[f"trial{k}"] = mean_returns
        rows.append({"trial": k, **point,
                     "val_sharpe": np.mean(sharpes) if sharpes else np.nan,
                     "val_sharpe_std": np.std(sharpes, ddof=1) if len(sharpes) > 1 else np.nan,
                     "val_cagr": metrics.cagr(mean_returns) if mean_returns is not None
                     else np.nan,
                     "val_max_drawdown": metrics.max_drawdown(mean_returns)
                     if mean_returns is not None else np.nan,
                     "seeds_done": len(sharpes), "error": "; ".join(errors)})
    table = pd.DataFrame(rows).sort_values("val_sharpe", ascending=False, na_position="last")
    return table.reset_index(drop=True), pd.DataFrame(daily).rename_axis("date")


def _summary(spec: SweepSpec, table: pd.DataFrame, returns: pd.DataFrame, search_folds, folds,
             seconds: float) -> dict:
    summary = {"name": spec.name, "trials": len(table), "seeds": spec.seeds,
               "search_folds": [str(f) for f in search_folds],
               "held_out": [str(f) for f in folds[len(search_folds):]],
               "seconds": round(seconds, 1)}
    best = table.iloc[0]
    if np.isfinite(best["val_sharpe"]):
        sharpes = np.array([metrics.sharpe(returns[c], annualize=False) for c in returns])
        winner = returns[f"trial{int(best['trial'])}"]
        summary |= {"winner": int(best["trial"]), "winner_val_sharpe": float(best["val_sharpe"]),
                    "winner_dsr": metrics.dsr(winner, sharpes),
                    "winner_psr": metrics.psr(winner)}
    return summary


def save_sweep(result: SweepResult, out: str | Path) -> Path:
    """``trials.csv`` (ranked), ``returns.csv`` and ``summary.json``, as one folder,
    written atomically."""
    with atomic_directory(out) as staging:
        result.trials.to_csv(staging / "trials.csv", index=False)
        result.returns.to_csv(staging / "returns.csv")
        (staging / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str))
    return Path(out)


__all__ = ["Range", "SweepResult", "SweepSpec", "run_sweep", "save_sweep"]
