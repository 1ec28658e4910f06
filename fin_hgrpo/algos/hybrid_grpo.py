"""Hybrid GRPO (Sane, 2025): G actions per state, each scored exactly by the simulator,
plus a learned critic that bootstraps beyond the scored steps.

For sample i at state s, over k scored steps (``sub_steps``):

    q_i = sum_j gamma^j f(r_ij) + gamma^k V(s_i^(k))

with f the reward transform (adaptive normalisation, tanh or identity). The paper's
advantage gives every sample mean_i f(r_i) + gamma V(s') - V(s); ``per_sample`` gives
q_i - V(s), so that better samples are told apart; ``group_baseline`` q_i - mean_j q_j;
``alpha`` blends per_sample and paper. V(s) is regressed on mean_i q_i, the value of
the policy's action distribution at s. With ``selection="value"`` the sample with the
best q_i advances the episode (value-based action selection).
"""

from __future__ import annotations

import torch

from fin_hgrpo.algos.advantages import hybrid, within_group_share
from fin_hgrpo.algos.config import HybridGRPOConfig
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.rollout import Rollout, Targets


class HybridGRPO(Agent):
    config_class = HybridGRPOConfig

    def transform(self, rewards: torch.Tensor) -> torch.Tensor:
        """f: the reward transform of the paper."""
        kind = self.config.reward_transform
        if kind == "normalize":
            return self.transformed(rewards)
        if kind == "tanh":
            return torch.tanh(rewards / self.config.tanh_scale)
        return rewards

    def sample_values(self, rewards, alive, final_t, final_holdings) -> torch.Tensor:
        """q_i for every sample: its k transformed rewards, then the critic at the day
        all G samples reach (``final_t``), each with its own holdings (the end of the
        data included: the investor would go on), discounted by the steps taken."""
        bootstrap = self.values_at(final_t, final_holdings)
        steps = alive.sum(-1).to(bootstrap.dtype)
        return self.discounted(self.transform(rewards), alive) + \
            self.config.gamma**steps * bootstrap

    @torch.no_grad()
    def targets(self, rollout: Rollout) -> Targets:
        cfg = self.config
        q = self.sample_values(rollout.rewards, rollout.alive, rollout.final_t,
                               rollout.final_holdings)
        empirical = self.discounted(self.transform(rollout.rewards), rollout.alive)
        executed = rollout.executed[..., None]
        bootstrap = (q - empirical).gather(-1, executed).squeeze(-1)
        q_executed = empirical.mean(-1) + bootstrap
        value = self.values_at(rollout.t, rollout.holdings)
        advantages = hybrid(q, q_executed, value, cfg.advantage, cfg.alpha)
        # how much of the per-sample form (q_i - V(s)) tells a state's samples apart
        share = within_group_share((q - value[..., None]).reshape(-1, q.shape[-1]))
        return Targets(advantages, q.mean(-1), value, {"within_group_share": share})

    @torch.no_grad()
    def select(self, rewards: torch.Tensor, ahead: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.config.selection == "random":
            return super().select(rewards, ahead)
        q = self.sample_values(ahead["rewards"], ahead["alive"], ahead["final_t"],
                               ahead["final_holdings"])
        return q.argmax(-1)
