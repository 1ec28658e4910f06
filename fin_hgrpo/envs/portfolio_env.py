"""PortfolioEnv (gymnasium.Env) and PortfolioVecEnv (gymnasium.vector.VectorEnv).

Observation: the window of causal features (window x assets x features) and the
current holdings (assets + cash), flat (a ``Box``, the default, for stable-baselines3
and similar) or a ``Dict``. Action: a ``Box`` of A+1 values in [-1, 1]; with the
``softmax`` transform they are logits scaled by ``action_scale``, with ``normalize``
their positive parts are the weights up to scale. On a long-short book the assets'
values are signed weights, projected onto the book's limits (cash's is not read), and
an episode that loses all its wealth terminates. Both envs step ``Episodes``, and so
``PortfolioSim.score``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from fin_hgrpo.envs.config import EnvSpec
from fin_hgrpo.envs.episodes import Episodes, Step
from fin_hgrpo.envs.rewards import Reward
from fin_hgrpo.envs.sim import PortfolioSim

Observation = Literal["flat", "dict"]


def _holdings_range(sim: PortfolioSim) -> tuple[float, float]:
    """What a holding can be: a share of the portfolio, or on a long-short book up to
    a few times its gross limit either way (drift and losses grow positions)."""
    if not sim.long_short:
        return 0.0, 1.0
    reach = 4.0 * (sim.book.gross_max + 1.0)
    return -reach, reach


def _spaces(sim: PortfolioSim, observation: Observation) -> tuple[spaces.Space, spaces.Box]:
    window_shape = (sim.window, sim.n_assets, sim.n_features)
    bound = sim.feature_bound
    low_held, high_held = _holdings_range(sim)
    if observation == "flat":
        size = int(np.prod(window_shape))
        low = np.r_[np.full(size, -bound), np.full(sim.n_weights, low_held)].astype(np.float32)
        high = np.r_[np.full(size, bound), np.full(sim.n_weights, high_held)].astype(np.float32)
        obs = spaces.Box(low, high, dtype=np.float32)
    elif observation == "dict":
        obs = spaces.Dict({
            "features": spaces.Box(-bound, bound, window_shape, np.float32),
            "holdings": spaces.Box(low_held, high_held, (sim.n_weights,), np.float32),
        })
    else:
        raise ValueError(f"observation must be 'flat' or 'dict', got {observation!r}")
    return obs, spaces.Box(-1.0, 1.0, (sim.n_weights,), np.float32)


def _pack(features: torch.Tensor, holdings: torch.Tensor, observation: Observation,
          held: tuple[float, float] = (0.0, 1.0)):
    features = features.to(torch.float32).numpy(force=True)
    holdings = holdings.to(torch.float32).clamp(*held).numpy(force=True)
    if observation == "dict":
        return {"features": features, "holdings": holdings}
    return np.concatenate([features.reshape(len(features), -1), holdings], axis=1)


def _spec_kwargs(path: str | Path | EnvSpec, overrides: dict) -> tuple[EnvSpec, dict]:
    spec = path if isinstance(path, EnvSpec) else EnvSpec.load(path)
    episode = spec.episode
    return spec, {"horizon": episode.horizon, "random_start": episode.random_start,
                  "observation": episode.observation, **overrides}


def _action_weights(sim: PortfolioSim, actions: torch.Tensor, scale: float) -> torch.Tensor:
    """Actions in [-1, 1] -> weights: scaled logits (softmax) or positive parts
    (normalize); on a long-short book, signed asset weights projected onto its limits."""
    if sim.long_short:
        return sim.to_weights(actions)
    return sim.to_weights(actions * scale if sim.action_transform == "softmax" else actions)


def _info(episodes: Episodes, step: Step | None, weights: torch.Tensor | None) -> dict:
    info: dict[str, Any] = {
        "wealth": episodes.wealth.numpy(force=True).copy(),
        "date": episodes.sim.date_values[episodes.t.numpy(force=True)],
        "holdings": episodes.holdings.numpy(force=True).copy(),
    }
    if step is not None:
        info["turnover"] = step.scored.turnover.numpy(force=True).copy()
        info["cost"] = step.scored.cost.numpy(force=True).copy()
        info["weights"] = weights.numpy(force=True).copy()
        info["log_return"] = step.scored.log_return.numpy(force=True).copy()
    return info


class PortfolioEnv(gym.Env):
    """One portfolio episode at a time over a ``PortfolioSim``.

    ``info`` carries wealth, turnover, cost, the target weights, the holdings after
    drift and the date of the close the step ended on.
    """

    metadata = {"render_modes": []}

    def __init__(self, sim: PortfolioSim, reward: Reward | None = None, *, horizon: int = 252,
                 random_start: bool = True, observation: Observation = "flat",
                 action_scale: float = 5.0) -> None:
        self.sim = sim
        self.observation_mode = observation
        self.action_scale = action_scale
        self.observation_space, self.action_space = _spaces(sim, observation)
        self._held = _holdings_range(sim)
        self._episodes = Episodes(sim, reward or Reward(), 1, horizon=horizon,
                                  random_start=random_start)

    @classmethod
    def from_spec(cls, path: str | Path | EnvSpec, **overrides: Any) -> PortfolioEnv:
        """Build from an env spec file (``envs/*.toml``) or a loaded ``EnvSpec``."""
        spec, kwargs = _spec_kwargs(path, overrides)
        return cls(spec.build_sim(), spec.build_reward(), **kwargs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``options={"start": date}`` starts it on that trading day."""
        super().reset(seed=seed)
        start = None
        if options and options.get("start") is not None:
            start = self.sim.day(options["start"])
        self._episodes.reset(self.np_random, start=start)
        return self._observation(), {k: v[0] for k, v in _info(self._episodes, None, None).items()}

    def step(self, action):
        actions = torch.tensor(np.asarray(action, dtype=np.float64)[None], dtype=self.sim.dtype)
        weights = self.to_weights(actions)
        step = self._episodes.step(weights)
        info = {k: v[0] for k, v in _info(self._episodes, step, weights).items()}
        return (self._observation(), float(step.reward[0]), bool(step.terminated[0]),
                bool(step.truncated[0]), info)

    def to_weights(self, actions: torch.Tensor) -> torch.Tensor:
        """The target weights the env trades to for raw actions in [-1, 1]."""
        return _action_weights(self.sim, actions, self.action_scale)

    def _observation(self):
        obs = _pack(*self._episodes.observe(), self.observation_mode, self._held)
        return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]


class PortfolioVecEnv(VectorEnv):
    """``num_envs`` portfolio episodes stepped as one batch (gymnasium's vector API).

    Episodes that end are restarted in the same step (``AutoresetMode.SAME_STEP``): the
    returned observation starts the new episode, ``info["final_obs"]`` holds the last
    one of the old, flagged by ``info["_final_obs"]``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, sim: PortfolioSim, num_envs: int, reward: Reward | None = None, *,
                 horizon: int = 252, random_start: bool = True,
                 observation: Observation = "flat", action_scale: float = 5.0) -> None:
        self.sim, self.num_envs = sim, num_envs
        self.observation_mode, self.action_scale = observation, action_scale
        self.single_observation_space, self.single_action_space = _spaces(sim, observation)
        self._held = _holdings_range(sim)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                               num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.episodes = Episodes(sim, reward or Reward(), num_envs, horizon=horizon,
                                 random_start=random_start)
        self._rng = np.random.default_rng()

    @classmethod
    def from_spec(cls, path: str | Path | EnvSpec, num_envs: int,
                  **overrides: Any) -> PortfolioVecEnv:
        spec, kwargs = _spec_kwargs(path, overrides)
        return cls(spec.build_sim(), num_envs, spec.build_reward(), **kwargs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.episodes.reset(self._rng)
        return _pack(*self.episodes.observe(), self.observation_mode, self._held), \
            _info(self.episodes, None, None)

    def step(self, actions):
        actions = torch.as_tensor(np.asarray(actions, dtype=np.float64), dtype=self.sim.dtype)
        weights = _action_weights(self.sim, actions, self.action_scale)
        step = self.episodes.step(weights)
        info = _info(self.episodes, step, weights)
        done = step.terminated | step.truncated
        if done.any():
            info["final_obs"] = _pack(*self.episodes.observe(), self.observation_mode,
                                      self._held)
            info["_final_obs"] = done.numpy(force=True)
            self.episodes.reset(self._rng, done)
        obs = _pack(*self.episodes.observe(), self.observation_mode, self._held)
        return (obs, step.reward.numpy(force=True).copy(), step.terminated.numpy(force=True),
                step.truncated.numpy(force=True), info)
