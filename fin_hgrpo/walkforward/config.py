"""Backtest specs (``backtests/*.toml``): env, strategies, walk-forward, benchmark, output.

Relative paths in a spec (the env spec, agent specs, user strategy files) are read
from the working directory, as the CLI's are. ``BacktestSpec.load`` checks that every
file it names exists and parses before any work starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fin_hgrpo.algos import configs_at, load_agent_config
from fin_hgrpo.config import load_spec
from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import FinHgrpoError, SpecError
from fin_hgrpo.measures.performance import PERIODS
from fin_hgrpo.strategies.config import (
    AgentStrategySpec,
    CustomSpec,
    StrategySpec,
    default_name,
)
from fin_hgrpo.walkforward.splits import WalkForward


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Length = Annotated[int, Field(ge=1)] | str  # bars, or a duration: "3y", "6mo", "26w"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(y|mo|w)$")
_PER_YEAR = {"y": 1, "mo": 12, "w": 52}


class WalkForwardSpec(_Spec):
    """Lengths in bars, or as durations (``"3y"``, ``"6mo"``, ``"26w"``) turned into bars
    with the data's bars per year."""

    train_days: Length = 756
    test_days: Length = 252
    step_days: Length | None = None  # default: test_days
    embargo_days: int = Field(default=5, ge=0)
    mode: Literal["rolling", "expanding"] = "rolling"
    max_folds: int | None = Field(default=None, ge=1)  # keep the last N folds only

    def splitter(self, periods: int = PERIODS) -> WalkForward:
        """The splitter, durations counted in bars at ``periods`` bars a year."""
        def bars(value: int | str | None) -> int | None:
            if value is None or isinstance(value, int):
                return value
            match = _DURATION.match(value.strip())
            if match is None:
                raise SpecError(f"walk-forward length {value!r}: give bars, or a duration "
                                f"like 3y, 6mo or 26w")
            return max(1, round(float(match[1]) * periods / _PER_YEAR[match[2]]))

        return WalkForward(bars(self.train_days), bars(self.test_days), bars(self.step_days),
                           self.embargo_days, self.mode)


class CvSpec(_Spec):
    """Combinatorial purged cross-validation beside the walk-forward (``studies.cpcv``):
    ``groups`` blocks of decision days, ``test_groups`` of them tested per split, and the
    days dropped from training before each test group (``purge_days``) and after it
    (``purge_days + embargo_days``)."""

    kind: Literal["cpcv"] = "cpcv"
    groups: int = Field(default=6, ge=3)
    test_groups: int = Field(default=2, ge=2)  # 1 would be k-fold: a single path
    purge_days: int = Field(default=5, ge=0)
    embargo_days: int = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _fewer_tests_than_groups(self) -> CvSpec:
        if self.test_groups >= self.groups:
            raise ValueError(f"cv.test_groups ({self.test_groups}) must be below cv.groups "
                             f"({self.groups}): a split needs groups to train on")
        return self


class QuickSpec(_Spec):
    """What ``--quick`` changes: the last ``folds`` folds, ``steps`` states per agent."""

    folds: int = Field(default=1, ge=1)
    steps: int = Field(default=5_000, ge=1)


class UniversesSpec(_Spec):
    """``count`` universes of ``size`` tickers each, drawn at random (``seed``) from the
    env's panel: the same walk-forward on each (``studies.universes``)."""

    count: int = Field(default=20, ge=2)
    size: int = Field(default=10, ge=2)
    seed: int = 0


class BacktestSpec(_Spec):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # results go to backtests/results/<name>
    env: str  # env spec file
    strategies: list[StrategySpec] = Field(min_length=1)
    seeds: list[int] = Field(default=[0], min_length=1)  # agents run once per seed
    # seeds an agent trains together, each on every fold, as one population task
    # (default: all of them). Smaller populations spread over more workers; results
    # depend on it (batched sums round differently), never on the workers
    population_seeds: int | None = Field(default=None, ge=1)
    rebalance: Rebalance = "daily"
    min_trade: float = Field(default=0.0, ge=0.0, lt=1.0)  # no-trade band, share of wealth
    dsr_trials: int | None = Field(default=None, ge=1)  # configurations tried, shown or not
    # (default: the strategies in this run)
    benchmark: str | None = "benchmark"  # strategy that beta, alpha and IR refer to
    baseline: str | None = "equal_weight"  # strategy the significance figures compare with
    workers: int | None = Field(default=None, ge=1)  # default: the machine's cores
    executor: Literal["local", "ray"] = "local"  # a process pool here, or Ray tasks
    ray_address: str | None = None  # a running Ray cluster (default: start Ray locally)
    tearsheets: bool = True  # a quantstats tearsheet per strategy
    walk_forward: WalkForwardSpec = WalkForwardSpec()
    cv: CvSpec | None = None  # CPCV paths beside the walk-forward (written to cv/)
    quick: QuickSpec = QuickSpec()
    # the tickers of the env's source this backtest trades (default: the env's own)
    universe: list[str] | None = Field(default=None, min_length=2)
    # many random universes of the env's tickers (studies.universes; --universes N)
    universes: UniversesSpec | None = None

    @model_validator(mode="after")
    def _unique_seeds(self) -> BacktestSpec:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {self.seeds}")
        split = self.population_seeds is not None and self.population_seeds < len(self.seeds)
        if split and any(isinstance(s, AgentStrategySpec) and s.ensemble
                         for s in self.strategies):
            raise ValueError(f"population_seeds = {self.population_seeds} splits the "
                             f"{len(self.seeds)} seeds, and an ensemble is trained from all "
                             "of them in one population: drop population_seeds or ensemble")
        return self

    @classmethod
    def load(cls, path: str | Path) -> BacktestSpec:
        """Parse, validate, and check every file the spec names (before any work)."""
        spec = load_spec(path, cls)
        spec.check_files(str(path))
        return spec

    def check_files(self, source: str) -> None:
        try:
            EnvSpec.load(self.env)
        except SpecError as exc:
            raise SpecError(f"{source}: key env: {exc}") from None
        names = []
        for i, strategy in enumerate(self.strategies):
            key = (f"strategies.{i}.spec" if isinstance(strategy, AgentStrategySpec)
                   else f"strategies.{i}.path" if isinstance(strategy, CustomSpec)
                   else f"strategies.{i}")
            try:
                names.append(default_name(strategy))
            except FinHgrpoError as exc:
                raise SpecError(f"{source}: key {key}: {exc}") from None
            if isinstance(strategy, AgentStrategySpec) and strategy.select is not None:
                configs_at(load_agent_config(strategy.spec), strategy.select.points(), source,
                           key=f"strategies.{i}.select.space")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise SpecError(f"{source}: key strategies: names repeat ({', '.join(repeated)}); "
                            f"give each a distinct name = ...")
        for key in ("benchmark", "baseline"):
            wanted = getattr(self, key)
            if wanted is not None and wanted not in names:
                raise SpecError(f"{source}: key {key}: no strategy named {wanted!r} "
                                f"(strategies: {', '.join(names)})")
            if wanted is not None and isinstance(self.strategies[names.index(wanted)],
                                                 AgentStrategySpec):
                raise SpecError(f"{source}: key {key}: {wanted!r} is an agent, whose seeds "
                                f"are several series; name a classical strategy")
        try:
            self.walk_forward.splitter()
        except SpecError as exc:
            raise SpecError(f"{source}: key walk_forward: {exc}") from None

    def files(self) -> list[str]:
        """The files a run of this spec reads besides the spec: the env spec and its
        files, agent specs and user strategy files."""
        found = [self.env, *self.env_spec().files()]
        found += [s.spec for s in self.strategies if isinstance(s, AgentStrategySpec)]
        return found + self.code_files()

    def code_files(self) -> list[str]:
        """The modules of its custom strategies: the code a run of this spec imports."""
        return [s.module for s in self.strategies if isinstance(s, CustomSpec)]

    def tries(self) -> int | None:
        """How many configurations the DSR counts as tried: ``dsr_trials`` when set; else,
        when agents select among candidates, each candidate and each rule's choice among
        them (candidates x (1 + rules)) besides every other strategy; else None (the
        strategies in the run)."""
        selecting = [s for s in self.strategies
                     if isinstance(s, AgentStrategySpec) and s.select is not None]
        if self.dsr_trials is not None or not selecting:
            return self.dsr_trials
        others = len(self.strategies) - len(selecting)
        return others + sum(len(s.select.points()) * (1 + len(s.select.rules))
                            for s in selecting)

    def trading_rules(self, strategy: StrategySpec) -> tuple[Rebalance, float]:
        """A strategy's rebalance frequency and no-trade band: its own, else the spec's."""
        band = self.min_trade if strategy.min_trade is None else strategy.min_trade
        return strategy.rebalance or self.rebalance, band

    def env_spec(self) -> EnvSpec:
        """The env file's spec, narrowed to ``universe`` when one is given."""
        env = EnvSpec.load(self.env)
        if self.universe is None:
            return env
        return env.model_copy(update={"data": env.data.model_copy(
            update={"tickers": list(self.universe)})})
