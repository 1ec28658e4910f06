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
    """Trains ``config``'s algorithm for ``steps`` market states in each ``fit``."""

    def __init__(self, config: AgentConfig, env: EnvSpec, *, steps: int,
                 warm_start: bool = False, name: str | None = None,
                 progress: Progress | None = None) -> None:
        self.config, self.env, self.steps = config, env, steps
        self.warm_start = warm_start
        self.name = name or config.algorithm
        self.progress = progress
        self.agent: Agent | None = None
        self._log: pd.DataFrame | None = None

    def fit(self, train: MarketPanel) -> None:
        sim = self.env.build_sim(train, dtype=torch.float32, device=self.config.device)
        agent = make_agent(sim, self.config, self.env.build_reward())
        if self.warm_start and self.agent is not None:
            agent.policy.load_state_dict(self.agent.policy.state_dict())
            if agent.value is not None and self.agent.value is not None:
                agent.value.load_state_dict(self.agent.value.state_dict())

        def tick(_agent: Agent, _metrics: dict) -> bool:
            if self.progress is not None:
                self.progress(1)
            return True

        agent.learn(self.steps, callback=tick)
        self.agent = agent
        self._log = pd.DataFrame(agent.history)

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
