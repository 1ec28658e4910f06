"""Rollouts: what an iteration collects, what an algorithm derives from it, and the
same experience laid out for the update.

``collect`` runs ``n_steps`` steps of ``n_envs`` parallel episodes through ``Episodes``
(no Python loop over episodes). At each state the policy samples ``group_size``
actions; ``PortfolioSim.score`` prices all of them at once against the same next-day
returns, and ``sub_steps > 1`` follows each for k-1 more steps under the current policy
(again batched). One sample per state advances its episode, or (``advance = "mean"``)
the policy's deterministic target does, scored beside the samples: the holdings the
episodes then train from are those the policy would hold at test, and every sample is
a departure from the target, priced from the same holdings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from fin_hgrpo.algos.acting import Actor
from fin_hgrpo.algos.policies import flat_rows
from fin_hgrpo.envs import Episodes, PortfolioSim, Reward, Scored


@dataclass
class Rollout:
    """One iteration's experience; leading dims (T, E), then G samples, then k sub-steps."""

    t: torch.Tensor  # (T, E) decision day
    holdings: torch.Tensor  # (T, E, A+1) holdings before trading
    actions: torch.Tensor  # (T, E, G, D) sampled actions
    log_probs: torch.Tensor  # (T, E, G) under the sampling policy
    rewards: torch.Tensor  # (T, E, G, k) raw rewards of each sample's k scored steps
    alive: torch.Tensor  # (T, E, G, k) whether sub-step j happened (data may end)
    final_t: torch.Tensor  # (T, E) day reached after the k steps (the samples move in step)
    final_holdings: torch.Tensor  # (T, E, G, A+1) each sample's holdings then
    executed: torch.Tensor  # (T, E) which sample advanced the episode
    terminated: torch.Tensor  # (T, E)
    ended: torch.Tensor  # (T, E) terminated or truncated
    log_growth: torch.Tensor  # (T, E) log return of the executed sample


@dataclass
class Targets:
    """What an algorithm derives from a rollout: per-sample advantages, value targets."""

    advantages: torch.Tensor  # (T, E, G)
    returns: torch.Tensor | None = None  # (T, E) value targets; None without a critic
    values: torch.Tensor | None = None  # (T, E) V(s) at collection, for value clipping
    diagnostics: dict[str, float] = field(default_factory=dict)  # logged per iteration


class UpdateBatch(NamedTuple):
    """A rollout and its targets, one row per state (S = T x E), as the loss reads them."""

    features: torch.Tensor  # (S, window, A, F)
    holdings: torch.Tensor  # (S, A+1)
    actions: torch.Tensor  # (S, G, D)
    old_log_probs: torch.Tensor  # (S, G)
    advantages: torch.Tensor  # (S, G)
    returns: torch.Tensor | None  # (S,) without a critic: None
    old_values: torch.Tensor | None  # (S,)

    @classmethod
    def of(cls, sim: PortfolioSim, rollout: Rollout, targets: Targets) -> UpdateBatch:
        t = rollout.t.reshape(-1)
        n = len(t)
        return cls(sim.observe(t),  # read once: features depend on the day alone
                   rollout.holdings.reshape(n, -1),
                   rollout.actions.reshape(n, rollout.actions.shape[2], -1),
                   rollout.log_probs.reshape(n, -1), targets.advantages.reshape(n, -1),
                   None if targets.returns is None else targets.returns.reshape(-1),
                   None if targets.values is None else targets.values.reshape(-1))

    def rows(self, index: torch.Tensor) -> UpdateBatch:
        """The states ``index`` picks (a minibatch): whole rows copied at once."""
        return UpdateBatch(*(None if x is None else x.index_select(0, index) for x in self))


# which sample advances each episode, from the rewards (E, G) and the sub-step scores
Select = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


@torch.no_grad()
def collect(actor: Actor, episodes: Episodes, select: Select, n_steps: int, group_size: int,
            sub_steps: int, rng: np.random.Generator, advance: str = "sample") -> Rollout:
    """``n_steps`` steps of every episode, ``group_size`` samples scored per state over
    ``sub_steps`` steps; ``select`` picks the sample that advances each episode (or,
    with ``advance="mean"``, the deterministic target advances it), and ended episodes
    restart (``rng`` draws their start)."""
    sim, reward = actor.sim, episodes.reward
    n = episodes.n
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in Rollout.__annotations__}
    for _ in range(n_steps):
        t, holdings = episodes.t.clone(), episodes.holdings.clone()
        dist = actor.policy(sim.observe(t), holdings)
        actions = actor.sample(dist, group_size)
        log_probs = actor.log_prob(dist, actions)
        base = actor.base(t, holdings)
        weights = actor.to_targets(actions, holdings, base)
        scored = sim.score(t, holdings, weights)
        benchmark = reward.benchmark(sim, t)
        rewards, states = reward.apply(episodes.reward_state, scored.net_return,
                                       scored.log_return, benchmark)
        ahead = score_ahead(actor, reward, t, scored, rewards, states, sub_steps)
        executed = select(rewards, ahead)
        if advance == "mean":
            target = actor.to_targets(actor.policy.deterministic(dist), holdings, base)
            mean = sim.score(t, holdings, target[:, None])
            mean_rewards, mean_states = reward.apply(episodes.reward_state, mean.net_return,
                                                     mean.log_return, benchmark)
            chosen = Scored(*(x[:, 0] for x in mean))
            step = episodes.advance(chosen, mean_rewards[:, 0], mean_states[:, 0])
        else:
            every = torch.arange(n, device=executed.device)
            chosen = Scored(*(x[every, executed] for x in scored))
            step = episodes.advance(chosen, rewards[every, executed], states[every, executed])
        ended = step.terminated | step.truncated
        episodes.reset(rng, ended)
        for name, value in (("t", t), ("holdings", holdings), ("actions", actions),
                            ("log_probs", log_probs), ("executed", executed),
                            ("terminated", step.terminated), ("ended", ended),
                            ("log_growth", chosen.log_return), *ahead.items()):
            rows[name].append(value)
    return Rollout(**{name: torch.stack(values) for name, values in rows.items()})


def score_ahead(actor: Actor, reward: Reward, t: torch.Tensor, scored: Scored,
                rewards: torch.Tensor, states: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Follow every sample for k-1 more steps under the current policy, batched: the
    rollout's ``rewards``, ``alive``, ``final_t`` and ``final_holdings``. A state's
    samples move in step, so each step's features are read and encoded once per state,
    and each sample adds its holdings' terms."""
    sim = actor.sim
    n, g = rewards.shape
    day = (t[:, None] + 1).expand(n, g).reshape(-1)
    holdings = scored.holdings.reshape(n * g, -1)
    reward_state = states.reshape(n * g, -1)
    all_rewards, alive = [rewards.reshape(-1)], [torch.ones_like(day, dtype=torch.bool)]
    stop = sim.segment_stop[t][:, None].expand(n, g).reshape(-1)  # the data's or segment's end
    live = (day <= stop) & ~scored.ruined.reshape(-1)  # a ruined book has no future
    for _ in range(k - 1):
        safe = torch.minimum(day, stop)  # the same for a state's g samples: read once
        dist = actor.policy(sim.observe(safe[::g]), holdings.reshape(n, g, -1))
        action = actor.continue_with(flat_rows(dist), g)
        weights = actor.to_targets(action, holdings, actor.base(safe, holdings))
        out = sim.score(safe, holdings, weights[:, None])
        step_reward, next_state = reward.apply(reward_state, out.net_return, out.log_return,
                                               reward.benchmark(sim, safe))
        all_rewards.append(torch.where(live, step_reward[:, 0], 0.0))
        alive.append(live.clone())
        holdings = torch.where(live[:, None], out.holdings[:, 0], holdings)
        reward_state = torch.where(live[:, None], next_state[:, 0], reward_state)
        day = torch.where(live, day + 1, day)
        live = live & (day <= stop) & ~out.ruined[:, 0]
    return {
        "rewards": torch.stack(all_rewards, -1).reshape(n, g, k),
        "alive": torch.stack(alive, -1).reshape(n, g, k),
        "final_t": torch.minimum(day, stop + 1).reshape(n, g)[:, 0],
        "final_holdings": holdings.reshape(n, g, -1),
    }


def discounted(rewards: torch.Tensor, alive: torch.Tensor, gamma: float) -> torch.Tensor:
    """sum_j gamma^j r_j over the last axis (the k scored steps)."""
    k = rewards.shape[-1]
    powers = gamma ** torch.arange(k, dtype=rewards.dtype, device=rewards.device)
    return (rewards * alive * powers).sum(-1)
