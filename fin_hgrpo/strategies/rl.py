"""``RLStrategy``: a PPO, GRPO or Hybrid GRPO agent as a strategy.

``fit`` trains a fresh agent (or, with ``warm_start``, the previous fold's networks) on
the training window only, in the environment the backtest's env spec describes; at a
decision the agent's deterministic action (the mean of its distribution) is the target.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.algos import AgentConfig, make_agent
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
        last = agent.iterations_for(self.steps)
        best: dict = {"score": -np.inf}

        def tick(agent: Agent, metrics: dict) -> bool:
            if self.progress is not None:
                self.progress(1)
            if judge is not None and (agent.iteration % self.validate_every == 0
                                      or agent.iteration == last):
                metrics["validation_log_growth"] = score = judge()
                if score > best["score"]:
                    best.update(score=score, networks=_networks(agent))
            return True

        agent.learn(self.steps, callback=tick)
        if "networks" in best:
            agent.policy.load_state_dict(best["networks"]["policy"])
            if agent.value is not None:
                agent.value.load_state_dict(best["networks"]["value"])
        self._log = pd.DataFrame(agent.history)

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


def _networks(agent: Agent) -> dict:
    copy = {"policy": {k: v.clone() for k, v in agent.policy.state_dict().items()}}
    if agent.value is not None:
        copy["value"] = {k: v.clone() for k, v in agent.value.state_dict().items()}
    return copy
