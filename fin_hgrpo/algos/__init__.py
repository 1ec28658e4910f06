"""PPO, GRPO and Hybrid GRPO on one trainer core."""

from fin_hgrpo.algos.config import (
    AgentConfig,
    GRPOConfig,
    HybridGRPOConfig,
    PPOConfig,
    agent_config,
    configs_at,
    load_agent_config,
)
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.grpo import GRPO
from fin_hgrpo.algos.hybrid_grpo import HybridGRPO
from fin_hgrpo.algos.population import Population
from fin_hgrpo.algos.ppo import PPO
from fin_hgrpo.algos.rollout import Rollout, Targets
from fin_hgrpo.envs import PortfolioSim, Reward

ALGORITHMS: dict[str, type[Agent]] = Agent.algorithms  # ppo, grpo, hybrid_grpo


def make_agent(sim: PortfolioSim, config: AgentConfig, reward: Reward | None = None) -> Agent:
    """The agent of the config's algorithm, on a float32 (or float64) simulator."""
    return ALGORITHMS[config.algorithm](sim, config, reward)


__all__ = [
    "ALGORITHMS",
    "GRPO",
    "PPO",
    "Agent",
    "AgentConfig",
    "GRPOConfig",
    "HybridGRPO",
    "HybridGRPOConfig",
    "PPOConfig",
    "Population",
    "Rollout",
    "Targets",
    "agent_config",
    "configs_at",
    "load_agent_config",
    "make_agent",
]
