"""``RLStrategy``: a PPO, GRPO or Hybrid GRPO agent as a strategy.

``fit`` trains a fresh agent (or, with a ``WarmStart``, the previous fold's networks,
shrunk and perturbed, for a share of the budget) on the training window only, in the
environment the backtest's env spec describes; at a decision the agent's
deterministic action (the mean of its distribution) is the target.
``fit_population`` fits many such strategies at once, their agents trained as one
``Population`` and judged on their validation days together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from fin_hgrpo.algos import AgentConfig, Population, make_agent
from fin_hgrpo.algos.bases import base_allocation, base_table, base_tensor, base_weights
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.allocation import equal_weights
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec, PortfolioSim
from fin_hgrpo.envs.sim import RUIN_FLOOR
from fin_hgrpo.envs.trading import Decide, checked_target, simulate
from fin_hgrpo.strategies.base import Decision, Strategy
from fin_hgrpo.strategies.shrinkage import Tilt

Progress = Callable[[int], None]  # told how many training iterations were just done
Keep = Literal["best", "last", "ema"]  # the networks a fit ends with
Start = Literal["cash", "base"]  # what a validation run starts from
Span = tuple[pd.Timestamp, pd.Timestamp]  # a stretch of training days, both inclusive


class WarmStart(BaseModel):
    """How a fit starts from the networks the previous fit ended with.

    Each carried parameter becomes ``shrink`` x itself + ``perturb`` x a fresh
    initialisation's (Ash and Adams's shrink and perturb, 2020: a warm start alone
    generalises worse than a fresh one). A residual tilt's output layer starts at zero,
    so shrinking it shrinks the tilt toward its base. ``reset_heads`` puts the policy's
    and the critic's output layers back to their fresh values (Nikishin et al.'s reset,
    2022). A warm fit trains for ``steps`` x the strategy's budget; every
    ``restart_every``-th fit starts from scratch with the whole budget (None: only the
    first). ``shrink = 1, perturb = 0, steps = 1`` carries the networks as they are.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shrink: float = Field(default=1.0, ge=0.0, le=1.0)
    perturb: float = Field(default=0.0, ge=0.0, le=1.0)
    reset_heads: bool = False
    steps: float = Field(default=1.0, gt=0.0, le=1.0)
    restart_every: int | None = Field(default=None, ge=1)

    def fresh_at(self, fit: int) -> bool:
        """Whether fit number ``fit`` (0 first) starts from scratch."""
        return fit == 0 or (self.restart_every is not None and fit % self.restart_every == 0)

    def budget(self, steps: int, fit: int) -> int:
        """Training states of fit number ``fit`` for a strategy budget of ``steps``."""
        return steps if self.fresh_at(fit) else max(1, round(steps * self.steps))

    def applied(self, carried: dict, fresh: dict) -> dict:
        """The networks a warm fit starts from: ``carried`` shrunk and perturbed by
        ``fresh`` (networks of a fresh initialisation), heads reset if asked."""
        out = {}
        for net, state in carried.items():
            out[net] = {}
            for key, value in state.items():
                if self.reset_heads and (key.startswith("head.") or key == "log_std"):
                    out[net][key] = fresh[net][key].clone()
                elif value.is_floating_point():
                    out[net][key] = self.shrink * value + self.perturb * fresh[net][key]
                else:
                    out[net][key] = value.clone()
        return out


class RLStrategy(Strategy):
    """Trains ``config``'s algorithm for ``steps`` market states in each ``fit``.

    ``validation_days`` > 0 keeps the last days of the training window out of training
    and judges the deterministic policy on them (log growth net of costs, through the
    backtest engine, from ``validation_start``: cash, or the agent's base portfolio)
    every ``validate_every`` iterations, trading with the same no-trade band
    ``min_trade`` as the backtest. ``keep`` says which networks the fit ends with:
    ``best``, those with the best validation (early stopping; the best of many noisy
    scores flatters); ``last``, the final ones; ``ema``, an exponential moving average
    of the networks over the iterations (half-life ``ema_halflife`` iterations), which
    smooths the last updates' noise without choosing on the validation days.
    """

    def __init__(self, config: AgentConfig, env: EnvSpec, *, steps: int,
                 warm_start: WarmStart | bool | None = None, validation_days: int = 0,
                 validate_every: int = 10,
                 name: str | None = None, progress: Progress | None = None,
                 min_trade: float = 0.0, keep: Keep = "best", ema_halflife: float = 10.0,
                 validation_start: Start = "cash") -> None:
        self.config, self.env, self.steps = config, env, steps
        self.keep, self.ema_halflife, self.validation_start = keep, ema_halflife, validation_start
        self.min_trade = min_trade
        self.warm_start = WarmStart() if warm_start is True else (warm_start or None)
        self.fits = 0  # fits started: where a warm chain is
        self.validation_days, self.validate_every = validation_days, validate_every
        self.name = name or config.algorithm
        self.progress = progress
        self.agent: Agent | None = None
        self._log: pd.DataFrame | None = None

    def fit(self, train: MarketPanel) -> None:
        training = self.start_training(train)
        training.agent.learn(training.steps, callback=training.after_iteration)
        training.finish()

    def start_training(self, train: MarketPanel,
                       segments: Sequence[Span] | None = None) -> Training:
        """A fresh agent (or, with ``warm_start``, the previous fit's networks, warmed
        as it says) on ``train`` less its validation days, and the early stopping that
        judges it.

        ``segments`` (inclusive date pairs inside ``train``) trains on those stretches
        only (``PortfolioSim``'s segments); the validation days are then the end of
        the last one."""
        spans = [(train.dates[0], train.dates[-1])] if segments is None else \
            sorted((pd.Timestamp(a), pd.Timestamp(b)) for a, b in segments)
        judged = train.slice(*spans[-1])  # the stretch the validation days end
        if self.validation_days:
            if self.validation_days >= len(judged) - 2:
                raise ValueError(f"{self.name}: validation_days {self.validation_days} leaves "
                                 f"nothing of a {len(judged)}-day training window")
            spans[-1] = (spans[-1][0], judged.dates[-self.validation_days - 1])
        learn_on = train.slice(None, spans[-1][1])
        days = None if segments is None else \
            [(learn_on.dates.get_loc(a), learn_on.dates.get_loc(b)) for a, b in spans]
        sim = self.env.build_sim(learn_on, dtype=torch.float32, device=self.config.device,
                                 segments=days)
        agent = make_agent(sim, self.config, self.env.build_reward())
        steps = self.next_steps()
        if self._warm_next():
            fresh = agent.initial_networks(_perturbation_seed(self.config.seed, self.fits))
            agent.load_networks(self.warm_start.applied(self.agent.networks(), fresh))
        self.agent = agent
        self.fits += 1
        validation = Validation(self.env, judged, self.validation_days, self.min_trade,
                                self.name, self.validation_start) \
            if self.validation_days else None
        return Training(self, agent, validation, steps)

    def next_steps(self) -> int:
        """Training states of the next fit: the budget, or a warm fit's share of it."""
        return self.warm_start.budget(self.steps, self.fits) if self._warm_next() else \
            self.steps

    def _warm_next(self) -> bool:
        """Whether the next fit starts from the networks the last one ended with."""
        warm = self.warm_start
        return warm is not None and self.agent is not None and not warm.fresh_at(self.fits)

    def weights(self, decision: Decision) -> np.ndarray:
        if self.agent is None:
            raise RuntimeError(f"{self.name}: fit must be called before weights")
        features, holdings = decision.observation()
        return agent_target(self.agent, features, holdings, self.base(decision))

    def base(self, decision: Decision) -> torch.Tensor | None:
        """The base portfolio (1, A+1) a residual policy tilts at ``decision``: its
        classical allocation's weights (None without a base or for the holdings base)."""
        kind = self.config.base
        if kind in (None, "holdings"):
            return None
        return torch.as_tensor(base_allocation(kind, decision.prices, decision.tradable))[None]

    @property
    def training_log(self) -> pd.DataFrame | None:
        return self._log


def _perturbation_seed(seed: int, fit: int) -> int:
    """The seed of the fresh networks that perturb fit number ``fit`` of a run of
    ``seed``: a new draw for every fit, the same on every machine."""
    return int(np.random.SeedSequence([seed, fit]).generate_state(1)[0])


def agent_target(agent: Agent, features: torch.Tensor, holdings: torch.Tensor,
                 base: torch.Tensor | None = None) -> np.ndarray:
    """The agent's deterministic target for one observation ((1, window, A, F) features,
    (1, A+1) holdings, and the (1, A+1) base of a residual policy), as float64 weights
    summing to one."""
    action = agent.predict(features.to(agent.device, torch.float32),
                           holdings.to(agent.device, torch.float32),
                           base=None if base is None else base.to(agent.device, torch.float32))
    weights = action[0].to(torch.float64)
    if agent.sim.long_short:  # within the book in float64, cash what is left
        return agent.sim.book.within(weights).numpy(force=True)
    weights = weights.numpy(force=True)
    return weights / weights.sum()


def agents_decide(sim: PortfolioSim, portfolios: Sequence[Sequence[Agent]],
                  names: Sequence[str], tilts: Sequence[Tilt | None] | None = None) -> Decide:
    """The decisions of B portfolios run side by side through ``sim`` (``simulate``'s
    ``decide``): each targets the mean of its agents' deterministic targets (one agent,
    or a seed ensemble's members), every agent asked at that portfolio's holdings, one
    portfolio at a time: what each strategy names alone. A portfolio's ``tilts`` entry
    (``shrinkage.Tilt``) keeps that share of the target's tilt from the agents' base
    (1/N for an agent without a base table); one that keeps none holds the base without
    asking the agents. ``names`` name the strategies in a refused target."""
    tilts = list(tilts) if tilts is not None else [None] * len(portfolios)
    kinds = {agent.config.base for agents in portfolios for agent in agents}
    tables = {kind: base_tensor(sim, kind) for kind in kinds}  # once, not daily
    shrunk = {agents[0].config.base for agents, tilt in zip(portfolios, tilts, strict=True)
              if tilt is not None}
    bases = {kind: None if kind in (None, "holdings") else base_table(sim, kind)
             for kind in shrunk}  # float64, as ``tilt_base`` names them

    def decide(t: int, holdings: torch.Tensor) -> torch.Tensor:
        day = torch.tensor([t], device=sim.device)
        features = sim.observe(day)
        targets = []
        for k, (agents, tilt) in enumerate(zip(portfolios, tilts, strict=True)):
            held = holdings[k:k + 1]
            kind = agents[0].config.base
            if tilt is None or not tilt.holds_base:
                weights = [agent_target(agent, features, held,
                                        base_weights(agent.config.base,
                                                     tables[agent.config.base], day, held))
                           for agent in agents]
                target = weights[0] if len(weights) == 1 else np.mean(weights, axis=0)
            if tilt is not None:
                base = bases[kind][t] if bases[kind] is not None else \
                    equal_weights(sim.n_assets, sim.tradable[t].numpy(force=True))
                target = base if tilt.holds_base else tilt.apply(target, base)
            targets.append(checked_target(target, names[k], sim.dates[t], sim.n_assets,
                                          sim.book))
        return torch.as_tensor(np.stack(targets), dtype=sim.dtype, device=sim.device)

    return decide


class Validation:
    """The held-out end of a training window (its last ``days`` decision days): the
    deterministic policies of one agent, or of every member of a population trained on
    that window, are run over it together through the backtest engine (daily, with the
    no-trade band ``min_trade``, from cash or, with ``start="base"``, from each agent's
    base portfolio: what a tilting agent holds once invested) and scored by their log
    growth net of costs."""

    def __init__(self, env: EnvSpec, train: MarketPanel, days: int, min_trade: float,
                 name: str, start: Start = "cash") -> None:
        self.sim = env.build_sim(train)
        self.first = max(self.sim.last_decision - days + 1, self.sim.first_decision)
        self.min_trade, self.name, self.start = min_trade, name, start
        self.key = (train.dates[0], train.dates[-1], days, min_trade, start)

    def scores(self, agents: Sequence[Agent]) -> list[float]:
        """Each agent's log growth over the validation days, in one engine run."""
        sim = self.sim
        kinds = [agent.config.base for agent in agents]
        tables = {kind: base_tensor(sim, kind) for kind in set(kinds)}  # once, not daily
        decide = agents_decide(sim, [[agent] for agent in agents], [self.name] * len(agents))
        path = simulate(decide, sim, self.first, sim.last_decision, "daily",
                        self._starting(kinds, tables), min_trade=self.min_trade)
        # a ruined run (a return of -1) scores the log of the ruin floor, not -inf
        return torch.log1p(path.net_return.clamp(min=RUIN_FLOOR - 1.0)).sum(1).tolist()

    def _starting(self, kinds: list, tables: dict) -> torch.Tensor:
        """Each agent's holdings at the first validation day: cash, or its base (1/N for
        an agent without a table base)."""
        sim = self.sim
        held = torch.zeros(len(kinds), sim.n_weights, dtype=sim.dtype, device=sim.device)
        held[:, -1] = 1.0
        if self.start == "base":
            for k, kind in enumerate(kinds):
                table = tables[kind]
                held[k] = table[self.first] if table is not None else \
                    torch.as_tensor(equal_weights(sim.n_assets, sim.tradable[self.first]
                                                  .numpy(force=True)), dtype=sim.dtype)
        return held


class Training:
    """One fit in progress, of ``steps`` training states: after every iteration the
    agent is judged on the validation days when due and the best networks are kept;
    ``finish`` puts them back."""

    def __init__(self, strategy: RLStrategy, agent: Agent, validation: Validation | None,
                 steps: int) -> None:
        self.strategy, self.agent, self.validation = strategy, agent, validation
        self.steps, self.last = steps, agent.iterations_for(steps)
        self.best_score = -np.inf
        self.best: dict | None = None
        self.average: dict | None = None  # keep = "ema": the networks' moving average

    def due(self) -> bool:
        """Whether the agent is to be judged after the iteration it just finished."""
        every = self.strategy.validate_every
        return self.validation is not None and (self.agent.iteration % every == 0
                                                or self.agent.iteration == self.last)

    def after_iteration(self, agent: Agent, metrics: dict) -> bool:
        """The single agent's callback: judge it alone when due."""
        self.record(metrics, self.validation.scores([agent])[0] if self.due() else None)
        return True

    def record(self, metrics: dict, score: float | None) -> None:
        """Count the iteration, log its validation ``score`` and keep the networks the
        strategy's ``keep`` asks for."""
        if self.strategy.progress is not None:
            self.strategy.progress(1)
        if self.strategy.keep == "ema":
            self._average()
        if score is not None:
            metrics["validation_log_growth"] = score
            if self.strategy.keep == "best" and score > self.best_score:
                self.best_score, self.best = score, self.agent.networks()

    def _average(self) -> None:
        networks = self.agent.networks()
        if self.average is None:
            self.average = networks
            return
        weight = 1.0 - 0.5 ** (1.0 / self.strategy.ema_halflife)  # of the newest
        for name, state in networks.items():
            for key, value in state.items():
                mean = self.average[name][key]
                if mean.is_floating_point():
                    mean.add_(value - mean, alpha=weight)

    def finish(self) -> None:
        kept = self.average if self.strategy.keep == "ema" else self.best
        if kept is not None:
            self.agent.load_networks(kept)
        self.strategy._log = pd.DataFrame(self.agent.history)


def fit_population(fits: Sequence[tuple[RLStrategy, MarketPanel]
                                   | tuple[RLStrategy, MarketPanel, Sequence[Span]]],
                   ) -> list[Exception | None]:
    """Fit each strategy on its training window (or on segments of it: a third item,
    as ``RLStrategy.start_training`` takes them), all their agents trained as one
    ``Population`` (same algorithm and budget; seeds, windows, learning rates, weight
    decays and entropy coefficients may differ), and the members on one window judged
    on its validation days in one engine run. Returns each member's error (a diverged
    update), or None: a member's failure leaves the others' fits intact."""
    budgets = {fit[0].next_steps() for fit in fits}
    if len(budgets) != 1:
        raise ValueError(f"a population trains for one budget, got {sorted(budgets)}")
    trainings = [fit[0].start_training(*fit[1:]) for fit in fits]
    windows: dict[tuple, list[int]] = {}
    for k, training in enumerate(trainings):
        if training.validation is not None:
            windows.setdefault(training.validation.key, []).append(k)

    def after_iteration(metrics: dict[int, dict]) -> None:
        scores: dict[int, float] = {}
        for members in windows.values():
            due = [k for k in members if k in metrics and trainings[k].due()]
            if due:
                judge = trainings[due[0]].validation
                scores.update(zip(due, judge.scores([trainings[k].agent for k in due]),
                                  strict=True))
        for k, values in metrics.items():
            trainings[k].record(values, scores.get(k))

    population = Population([training.agent for training in trainings])
    population.learn(budgets.pop(), callback=after_iteration)
    for training in trainings:
        training.finish()
    return list(population.errors)

