"""DeepSeekMath's GRPO: G sampled actions per state, each scored by the simulator;
advantage = the sample's (k-step) reward standardised within its group; no critic;
a k3 KL penalty to a reference policy refreshed every ``ref_update_every`` iterations."""

from __future__ import annotations

import torch

from fin_hgrpo.algos.advantages import group_relative
from fin_hgrpo.algos.config import GRPOConfig
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.rollout import Rollout, Targets


class GRPO(Agent):
    config_class = GRPOConfig
    uses_critic = False
    uses_reference = True

    @torch.no_grad()
    def targets(self, rollout: Rollout) -> Targets:
        returns = self.discounted(self.transformed(rollout.rewards), rollout.alive)
        return Targets(group_relative(returns, self.config.scale_rewards))
