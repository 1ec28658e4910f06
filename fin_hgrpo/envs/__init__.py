"""The batched portfolio simulator and the gymnasium environments over it."""

import gymnasium

from fin_hgrpo.envs.book import Book
from fin_hgrpo.envs.config import EnvSpec
from fin_hgrpo.envs.episodes import Episodes, Step
from fin_hgrpo.envs.portfolio_env import PortfolioEnv, PortfolioVecEnv
from fin_hgrpo.envs.rewards import REWARD_KINDS, Reward
from fin_hgrpo.envs.sim import PortfolioSim, Scored, project_capped_simplex, project_simplex

__all__ = [
    "ENV_ID",
    "Book",
    "REWARD_KINDS",
    "EnvSpec",
    "Episodes",
    "PortfolioEnv",
    "PortfolioSim",
    "PortfolioVecEnv",
    "Reward",
    "Scored",
    "Step",
    "project_capped_simplex",
    "project_simplex",
]

ENV_ID = "fin_hgrpo/Portfolio-v0"
if ENV_ID not in gymnasium.registry:
    # gymnasium.make(ENV_ID, path="envs/default.toml", **overrides)
    gymnasium.register(id=ENV_ID, entry_point=PortfolioEnv.from_spec)
