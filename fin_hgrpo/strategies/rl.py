"""``RLStrategy``: a PPO, GRPO or Hybrid GRPO agent as a strategy.

``fit`` trains a fresh agent (or, with ``warm_start``, the previous fold's networks) on
the training window only, in the environment the backtest's env spec describes; at a
decision the agent's deterministic action (the mean of its distribution) is the target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.algos import AgentConfig, Population, make_agent
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.strategies.base import Decision, Strategy

Progress = Callable[[int], None]  # told how many training iterations were just done


class RLStrategy(Strategy):
    """Trains ``config``'s algorithm for ``steps`` market states in each ``fit``.

    ``validation_days`` > 0 keeps the last days of the training window out of training
    and judges the deterministic policy on them (log growth net of costs, through the
    backtest engine) every ``validate_every`` iterations; the best networks are kept
    (early stopping against overfitting the training days), trading with the same
    no-trade band ``min_trade`` as the backtest.
    """

    def __init__(self, config: AgentConfig, env: EnvSpec, *, steps: int,
                 warm_start: bool = False, validation_days: int = 0, validate_every: int = 10,
                 name: str | None = None, progress: Progress | None = None,
                 min_trade: float = 0.0) -> None:
        self.config, self.env, self.steps = config, env, steps
        self.min_trade = min_trade
        self.warm_start = warm_start
        self.validation_days, self.validate_every = validation_days, validate_every
        self.name = name or config.algorithm
        self.progress = progress
        self.agent: Agent | None = None
        self._log: pd.DataFrame | None = None

    def fit(self, train: MarketPanel) -> None:
        training = self.start_training(train)
        training.agent.learn(self.steps, callback=training.after_iteration)
        training.finish()

    def start_training(self, train: MarketPanel) -> Training:
        """A fresh agent (or the previous fold's networks, with ``warm_start``) on
        ``train`` less its validation days, and the early stopping that judges it."""
        learn_on = train
        if self.validation_days:
            if self.validation_days >= len(train) - 2:
                raise ValueError(f"{self.name}: validation_days {self.validation_days} leaves "
                                 f"nothing of a {len(train)}-day training window")
            learn_on = train.slice(None, train.dates[-self.validation_days - 1])
        sim = self.env.build_sim(learn_on, dtype=torch.float32, device=self.config.device)
        agent = make_agent(sim, self.config, self.env.build_reward())
        if self.warm_start and self.agent is not None:
            agent.policy.load_state_dict(self.agent.policy.state_dict())
            if agent.value is not None and self.agent.value is not None:
                agent.value.load_state_dict(self.agent.value.state_dict())
        self.agent = agent
        judge = self._validation(train) if self.validation_days else None
        return Training(self, agent, judge, agent.iterations_for(self.steps))

    def _validation(self, train: MarketPanel) -> Callable[[], float]:
        """Log growth of the current policy over the held-out end of ``train``."""
        from fin_hgrpo.backtest.engine import run_strategy

        sim = self.env.build_sim(train)
        first = sim.last_decision - self.validation_days + 1

        def score() -> float:
            run = run_strategy(self, sim, max(first, sim.first_decision), sim.last_decision,
                               min_trade=self.min_trade)
            return float(np.log1p(run.daily["net_return"]).sum())

        return score

    def weights(self, decision: Decision) -> np.ndarray:
        if self.agent is None:
            raise RuntimeError(f"{self.name}: fit must be called before weights")
        features, holdings = decision.observation()
        device = self.agent.device
        action = self.agent.predict(features.to(device, torch.float32),
                                    holdings.to(device, torch.float32))
        weights = action[0].to(torch.float64).numpy(force=True)
        return weights / weights.sum()

    @property
    def training_log(self) -> pd.DataFrame | None:
        return self._log


class Training:
    """One fit in progress: after every iteration the agent is judged on the validation
    days when due and the best networks are kept; ``finish`` puts them back."""

    def __init__(self, strategy: RLStrategy, agent: Agent, judge: Callable[[], float] | None,
                 last: int) -> None:
        self.strategy, self.agent, self.judge, self.last = strategy, agent, judge, last
        self.best_score = -np.inf
        self.best: dict | None = None

    def after_iteration(self, agent: Agent, metrics: dict) -> bool:
        if self.strategy.progress is not None:
            self.strategy.progress(1)
        due = agent.iteration % self.strategy.validate_every == 0 or agent.iteration == self.last
        if self.judge is not None and due:
            metrics["validation_log_growth"] = score = self.judge()
            if score > self.best_score:
                self.best_score, self.best = score, _networks(agent)
        return True

    def finish(self) -> None:
        agent = self.agent
        if self.best is not None:
            agent.policy.load_state_dict(self.best["policy"])
            if agent.value is not None:
                agent.value.load_state_dict(self.best["value"])
        self.strategy._log = pd.DataFrame(agent.history)


def fit_population(fits: Sequence[tuple[RLStrategy, MarketPanel]]) -> list[Exception | None]:
    """Fit each strategy on its training window, all their agents trained as one
    ``Population`` (same algorithm and budget; seeds, windows, learning rates, weight
    decays and entropy coefficients may differ). Returns each member's error (a
    diverged update), or None: a member's failure leaves the others' fits intact."""
    budgets = {strategy.steps for strategy, _ in fits}
    if len(budgets) != 1:
        raise ValueError(f"a population trains for one budget, got {sorted(budgets)}")
    trainings = [strategy.start_training(train) for strategy, train in fits]
    population = Population([training.agent for training in trainings])
    population.learn(budgets.pop(), callback=lambda k, agent, metrics:
                     trainings[k].after_iteration(agent, metrics))
    for training in trainings:
        training.finish()
    return list(population.errors)


def _networks(agent: Agent) -> dict:
    copy = {"policy": {k: v.clone() for k, v in agent.policy.state_dict().items()}}
    if agent.value is not None:
        copy["value"] = {k: v.clone() for k, v in agent.value.state_dict().items()}
    return copy
