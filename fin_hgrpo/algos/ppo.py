"""PPO: one action per state; advantages by GAE(lambda) from a learned V(s)."""

from __future__ import annotations

import torch

from fin_hgrpo.algos.advantages import gae
from fin_hgrpo.algos.config import PPOConfig
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.rollout import Rollout, Targets


class PPO(Agent):
    config_class = PPOConfig

    @torch.no_grad()
    def targets(self, rollout: Rollout) -> Targets:
        rewards = self.transformed(rollout.rewards[..., 0, 0])
        values = self.values_at(rollout.t, rollout.holdings)
        next_values = self.values_at(rollout.final_t, rollout.final_holdings[:, :, 0])
        advantages, returns = gae(rewards, values, next_values, rollout.terminated,
                                  rollout.ended, self.config.gamma, self.config.gae_lambda)
        return Targets(advantages[..., None], returns, values)
