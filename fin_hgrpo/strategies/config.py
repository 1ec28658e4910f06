"""Strategy specs: one ``[[strategies]]`` table each in a backtest spec.

``kind`` picks the strategy; the other keys are its parameters. Agents name their
agent spec (``strategies/hgrpo.toml``); a user's own strategy names its file and class
(``path = "strategies/my_strategy.py:MyStrategy"``) and passes ``params`` to it.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fin_hgrpo.algos import AgentConfig, load_agent_config
from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import SpecError
from fin_hgrpo.strategies import baselines
from fin_hgrpo.strategies.base import Strategy
from fin_hgrpo.strategies.forecast import ForecastStrategy
from fin_hgrpo.strategies.rl import Progress, RLStrategy, WarmStart
from fin_hgrpo.strategies.shrinkage import Shrink, Skill


class _StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    rebalance: Rebalance | None = None  # default: the backtest's
    min_trade: float | None = Field(default=None, ge=0.0, lt=1.0)  # no-trade band (default:
    # the backtest's): assets whose trade is smaller than this share of wealth stay put


class EqualWeightSpec(_StrategySpec):
    kind: Literal["equal_weight"]


class BuyAndHoldSpec(_StrategySpec):
    kind: Literal["buy_and_hold"]


class BenchmarkSpec(_StrategySpec):
    kind: Literal["benchmark"]
    ticker: str = "SPY"


class InverseVolatilitySpec(_StrategySpec):
    kind: Literal["inverse_volatility"]
    lookback: int = Field(default=63, ge=2)


class MinVarianceSpec(_StrategySpec):
    kind: Literal["min_variance"]
    lookback: int = Field(default=252, ge=2)


class MaxSharpeSpec(_StrategySpec):
    kind: Literal["max_sharpe"]
    lookback: int = Field(default=252, ge=2)


class HierarchicalRiskParitySpec(_StrategySpec):
    kind: Literal["hrp"]
    lookback: int = Field(default=252, ge=2)


class RiskParitySpec(_StrategySpec):
    kind: Literal["risk_parity"]
    lookback: int = Field(default=252, ge=2)


class ForecastSpec(_StrategySpec):
    """Predict, then optimise (``strategies.forecast``)."""

    kind: Literal["forecast"]
    model: Literal["ridge", "gbm"] = "ridge"
    horizon: int = Field(default=5, ge=1)  # bars ahead the model forecasts
    risk_aversion: float = Field(default=5.0, gt=0.0)
    lookback: int = Field(default=252, ge=2)  # days of the covariance


class MomentumSpec(_StrategySpec):
    kind: Literal["momentum"]
    lookback: int = Field(default=126, ge=2)
    skip: int = Field(default=21, ge=0)
    top_k: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _skip_inside_lookback(self) -> MomentumSpec:
        if self.skip >= self.lookback:
            raise ValueError(f"skip ({self.skip}) must be shorter than lookback "
                             f"({self.lookback}): the momentum is measured between them")
        return self


class CashSpec(_StrategySpec):
    kind: Literal["cash"]


class LongShortMomentumSpec(MomentumSpec):
    kind: Literal["long_short_momentum"]
    top_k: int = Field(default=3, ge=1)
    long: float = Field(default=0.5, ge=0.0, le=10.0)  # shares of wealth a side: 0.5 and
    short: float = Field(default=0.5, ge=0.0, le=10.0)  # 0.5 is dollar neutral


class LongShortMinVarianceSpec(_StrategySpec):
    kind: Literal["long_short_min_variance"]
    lookback: int = Field(default=252, ge=2)
    gross: float = Field(default=1.0, gt=0.0, le=10.0)


class LongShortTangencySpec(_StrategySpec):
    kind: Literal["long_short_tangency"]
    lookback: int = Field(default=252, ge=2)
    gross: float = Field(default=1.0, gt=0.0, le=10.0)


# studies.selection reads them
SELECTION_RULE = r"holdout|past_folds:([1-9][0-9]*|all)|inner_wf:([1-9][0-9]*)"


MAX_POINTS = 256  # a grid's candidates, each trained with every seed on every fold


def check_space(space: dict[str, object]) -> None:
    """A grid over agent-spec keys: each list non-empty and without repeats, never the
    seed (seeds are the evidence, set by ``seeds``), at most ``MAX_POINTS`` points."""
    points = 1
    for key, values in space.items():
        if key == "seed":
            raise ValueError("space.seed: seeds are not a hyperparameter to choose; set seeds "
                             "(each seed is one draw of every candidate)")
        if not isinstance(values, list):
            continue
        if not values:
            raise ValueError(f"space.{key}: needs at least one value")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"space.{key}: values repeat ({values})")
        points *= len(values)
    if points > MAX_POINTS:
        raise ValueError(f"space: a grid of {points} points, at most {MAX_POINTS} (each is "
                         "trained with every seed on every fold)")


class SelectSpec(BaseModel):
    """Candidate configurations of an agent and the rules that pick one at each fold
    (``fin_hgrpo.studies.selection``): ``space`` is a grid over agent-spec keys, each
    point a candidate trained on every fold; each rule is judged out of sample as a
    strategy of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    space: dict[str, list] = Field(min_length=1)
    # holdout: the best score on the fold's validation days (the training's early-
    # stopping criterion); past_folds:M: the best out-of-sample Sharpe on the M folds
    # before (past_folds:all, every fold before); inner_wf:J: the best Sharpe over J
    # walk-forward folds inside the fold's training window (J more trainings a fold)
    rules: list[str] = Field(default=["holdout", "past_folds:all"], min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> SelectSpec:
        check_space(self.space)
        if len(self.points()) < 2:
            raise ValueError("space: a choice needs at least two candidates")
        for rule in self.rules:
            if not re.fullmatch(SELECTION_RULE, rule):
                raise ValueError(f"rules: {rule!r} is not a rule (holdout, past_folds:M, "
                                 "past_folds:all or inner_wf:J)")
        if len(set(self.rules)) != len(self.rules):
            raise ValueError(f"rules repeat: {self.rules}")
        return self

    def inner_folds(self) -> int:
        """How many inner walk-forward folds the rules need (0: none)."""
        return max((int(r.split(":")[1]) for r in self.rules if r.startswith("inner_wf")),
                   default=0)

    def points(self) -> list[dict]:
        """The hyperparameters of each candidate, in grid order."""
        keys = list(self.space)
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*self.space.values())]


class AgentStrategySpec(_StrategySpec):
    kind: Literal["agent"]
    spec: str  # agent spec file, e.g. strategies/hgrpo.toml
    steps: int = Field(default=50_000, ge=1)  # market states of training per fold
    # start each fold from the previous fold's networks: true, or a table of how
    # (shrink, perturb, reset_heads, steps, restart_every: strategies.rl.WarmStart)
    warm_start: WarmStart | None = None
    validation_days: int = Field(default=0, ge=0)  # >0: early stopping on the window's end
    validate_every: int = Field(default=10, ge=1)  # iterations between validations
    ensemble: bool = False  # also run <name>_ensemble: the mean target of all the seeds
    # the networks a fit ends with: best (validation), last, or ema (their moving
    # average over iterations, half-life ema_halflife iterations)
    keep: Literal["best", "last", "ema"] = "best"
    ema_halflife: float = Field(default=10.0, gt=0)
    validation_start: Literal["cash", "base"] = "cash"  # what validation runs start from
    # candidates and selection rules: runs <name>_c<k> and <name>_select_<rule>
    select: SelectSpec | None = None
    # also run <name>_shrunk, the tilt from the base kept by measured skill ("skill":
    # kappa = max(0, 1 - 1/t^2), t of the past test folds' active return's alpha, or
    # of its mean with skill = "mean") or capped
    # ("cap": an active-share cap among caps, the past test folds' best):
    # strategies.shrinkage
    shrink: Shrink = "none"
    skill: Skill = "alpha"  # t of the active return's alpha against the base, or its mean
    caps: list[float] = [0.0, 0.05, 0.1, 0.2, 0.4]

    @field_validator("warm_start", mode="before")
    @classmethod
    def _warm_start_flag(cls, value: object) -> object:
        """``true`` carries the networks as they are; ``false`` trains each fold anew."""
        if isinstance(value, bool):
            return WarmStart() if value else None
        return value

    def fold_steps(self, steps: int, folds: int) -> list[int]:
        """Training states of each of ``folds`` fits in order, for a budget of
        ``steps``: all of it, or a warm fit's share."""
        warm = self.warm_start
        return [steps if warm is None else warm.budget(steps, k) for k in range(folds)]

    @field_validator("caps")
    @classmethod
    def _caps_nest_the_base(cls, caps: list[float]) -> list[float]:
        if 0.0 not in caps or any(not 0.0 <= c <= 1.0 for c in caps) or \
                len(set(caps)) != len(caps):
            raise ValueError(f"{caps}: active-share caps lie in [0, 1], once each, and "
                             "include 0 (the base)")
        return sorted(caps)

    @model_validator(mode="after")
    def _select_without_ensemble(self) -> AgentStrategySpec:
        if self.select is not None and self.ensemble:
            raise ValueError("select and ensemble: an ensemble of which candidate? drop one")
        if self.select is not None and self.shrink != "none":
            raise ValueError("select and shrink: shrink which candidate? drop one")
        needs_days = [r for r in (self.select.rules if self.select else [])
                      if r == "holdout" or r.startswith("inner_wf")]
        if needs_days and not self.validation_days:
            raise ValueError(f"select.rules: {needs_days[0]} scores windows of the "
                             "validation days, and validation_days is 0")
        return self


class CustomSpec(_StrategySpec):
    kind: Literal["custom"]
    path: str = Field(pattern=r"^.+\.py:[A-Za-z_][A-Za-z0-9_]*$")  # FILE.py:Class
    params: dict = {}

    @property
    def module(self) -> str:
        """The file of the strategy's code (``FILE.py`` of ``FILE.py:Class``)."""
        return self.path.rpartition(":")[0]

    @property
    def class_name(self) -> str:
        return self.path.rpartition(":")[2]


StrategySpec = Annotated[
    EqualWeightSpec | BuyAndHoldSpec | BenchmarkSpec | InverseVolatilitySpec | MinVarianceSpec
    | MaxSharpeSpec | HierarchicalRiskParitySpec | RiskParitySpec | ForecastSpec | MomentumSpec
    | CashSpec
    | LongShortMomentumSpec | LongShortMinVarianceSpec | LongShortTangencySpec
    | AgentStrategySpec | CustomSpec,
    Field(discriminator="kind"),
]

_BASELINES = {
    "equal_weight": baselines.EqualWeight, "buy_and_hold": baselines.BuyAndHold,
    "benchmark": baselines.Benchmark, "inverse_volatility": baselines.InverseVolatility,
    "min_variance": baselines.MinVariance, "max_sharpe": baselines.MaxSharpe,
    "hrp": baselines.HierarchicalRiskParity, "risk_parity": baselines.EqualRiskContribution,
    "momentum": baselines.Momentum, "cash": baselines.Cash,
    "long_short_momentum": baselines.LongShortMomentum,
    "long_short_min_variance": baselines.LongShortMinVariance,
    "long_short_tangency": baselines.LongShortTangency,
}


def build_strategy(spec: StrategySpec, env: EnvSpec, *, seed: int = 0, steps: int | None = None,
                   progress: Progress | None = None, agent: AgentConfig | None = None,
                   min_trade: float = 0.0) -> Strategy:
    """The strategy a spec describes. ``seed``, ``steps`` (an override of the spec's
    training budget), ``agent`` (the config, instead of reading the spec's file) and
    ``min_trade`` (the no-trade band its validation days are run with) matter to agents
    only."""
    if isinstance(spec, AgentStrategySpec):
        config = (agent or load_agent_config(spec.spec)).model_copy(update={"seed": seed})
        strategy: Strategy = RLStrategy(config, env, steps=steps or spec.steps,
                                        warm_start=spec.warm_start,
                                        validation_days=spec.validation_days,
                                        validate_every=spec.validate_every, name=spec.name,
                                        progress=progress, min_trade=min_trade,
                                        keep=spec.keep, ema_halflife=spec.ema_halflife,
                                        validation_start=spec.validation_start)
    elif isinstance(spec, ForecastSpec):
        strategy = ForecastStrategy(env, spec.model, spec.horizon, spec.risk_aversion,
                                    spec.lookback)
    elif isinstance(spec, CustomSpec):
        cls = load_strategy_class(spec.path)
        try:
            strategy = cls(**spec.params)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{spec.path}: params {spec.params} do not build it: {exc}") from None
    else:
        params = spec.model_dump(exclude={"kind", "name", "rebalance", "min_trade"})
        strategy = _BASELINES[spec.kind](**params)
    if spec.name:
        strategy.name = spec.name
    return strategy


def default_name(spec: StrategySpec) -> str:
    """The strategy's name in every result file: the spec's ``name``, else the
    algorithm (agents), the class name in snake case (user strategies) or the kind."""
    if spec.name:
        return spec.name
    if isinstance(spec, AgentStrategySpec):
        return load_agent_config(spec.spec).algorithm
    if isinstance(spec, ForecastSpec):
        return f"forecast_{spec.model}"
    if isinstance(spec, CustomSpec):
        cls = load_strategy_class(spec.path)
        own = getattr(cls, "name", Strategy.name)
        return own if own != Strategy.name else re.sub(r"(?<!^)(?=[A-Z])", "_",
                                                        cls.__name__).lower()
    return spec.kind


def candidate_names(spec: AgentStrategySpec) -> list[str]:
    """A selecting agent strategy's candidates as strategies, in grid order:
    ``<name>_c<k>`` (their runs ``<name>_c<k>_seed<s>``)."""
    name = default_name(spec)
    return [f"{name}_c{k}" for k in range(len(spec.select.points()))]


def load_strategy_class(reference: str) -> type[Strategy]:
    """The class ``Name`` of ``path/to/file.py:Name``, which must subclass ``Strategy``."""
    file, _, class_name = reference.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise SpecError(f"{file}: strategy file not found")
    module_name = f"fin_hgrpo_user_strategy_{path.stem}"
    module = sys.modules.get(module_name)
    if module is None or getattr(module, "__file__", None) != str(path.resolve()):
        loader = importlib.util.spec_from_file_location(module_name, path.resolve())
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module  # so that pickling its instances works
        try:
            loader.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's module: say where it failed
            del sys.modules[module_name]
            raise SpecError(f"{file}: the strategy module fails to import: "
                            f"{type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise SpecError(f"{file}: no class {class_name} implementing "
                        f"fin_hgrpo.strategies.Strategy")
    return cls
