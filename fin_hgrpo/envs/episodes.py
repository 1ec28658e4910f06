"""Episodes: the batched state of many portfolio episodes over one PortfolioSim.

The gymnasium env (a batch of one), the vector env and the trainers all step this, so
every one of them computes wealth through ``PortfolioSim.score``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from fin_hgrpo.envs.rewards import Reward
from fin_hgrpo.envs.sim import PortfolioSim, Scored


class Step(NamedTuple):
    """What one step of every episode produced; (B,) tensors."""

    reward: torch.Tensor
    terminated: torch.Tensor  # gymnasium's terminated: only by ruin (a portfolio goes on)
    truncated: torch.Tensor  # the horizon was reached, or the data ended
    scored: Scored  # the simulator's outcome, N = 1 squeezed


class Episodes:
    """``n`` episodes: decision day, holdings (assets + cash), wealth, reward state.

    An episode starts all in cash on a random decision day (``random_start``) or on the
    first one, and is truncated after ``horizon`` decisions or when the data (or its
    training segment: ``PortfolioSim.decision_ranges``) ends: an
    investor would go on past the last day of the data, so a critic bootstraps from the
    state the data ends in. Only ruin (a long-short book that lost all its wealth)
    terminates: nothing follows it.

    Random starts make every decision day equally visited, the most recent included:
    an episode's start is drawn uniformly from ``horizon - 1`` days before the first
    decision day to the last one, and one drawn before the data begins on the first
    day with those days counted against its horizon. (Starts drawn only where a whole
    horizon fits left the most recent days nearly unvisited: the last 126 of 560 got
    10.7% of the visits instead of 22.5%.)
    """

    def __init__(self, sim: PortfolioSim, reward: Reward, n: int, *, horizon: int,
                 random_start: bool) -> None:
        self.sim, self.reward, self.n = sim, reward, n
        self.horizon, self.random_start = horizon, random_start
        dtype, device = sim.dtype, sim.device
        self.t = torch.full((n,), sim.first_decision, dtype=torch.long, device=device)
        self.steps = torch.zeros(n, dtype=torch.long, device=device)
        self.holdings = torch.zeros(n, sim.n_weights, dtype=dtype, device=device)
        self.holdings[:, -1] = 1.0
        self.wealth = torch.ones(n, dtype=dtype, device=device)
        self.reward_state = reward.initial_state(n, dtype, device)
        self._warm_states = reward.warm_states(sim.relatives)  # (T, S): a start on day t

    def reset(self, rng: np.random.Generator, which: torch.Tensor | None = None,
              start: int | None = None) -> None:
        """Start the chosen episodes (all by default) afresh, all in cash."""
        index = torch.arange(self.n) if which is None else torch.nonzero(which).squeeze(-1)
        if len(index) == 0:
            return
        first, last = self.sim.first_decision, self.sim.last_decision
        spent = np.zeros(len(index), dtype=np.int64)
        if start is not None:
            if not first <= start <= last or self.sim.segment_stop[start] < 0:
                raise ValueError(f"start day {start} is outside the decision days "
                                 f"{self.sim.decision_ranges}")
            days = np.full(len(index), start)
        elif self.random_start:
            days, spent = self._random_starts(rng, len(index))
        else:
            days = np.full(len(index), first)
        device = self.t.device
        self.t[index] = torch.as_tensor(days, dtype=torch.long, device=device)
        self.steps[index] = torch.as_tensor(spent, dtype=torch.long, device=device)
        self.holdings[index] = 0.0
        self.holdings[index, -1] = 1.0
        self.wealth[index] = 1.0
        self.reward_state[index] = self._warm_states[self.t[index]]

    def _random_starts(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Start days drawn uniformly from each segment's decision days and the
        ``horizon - 1`` notional days before them, and the steps the notional ones
        spent before their segment began."""
        ranges, h = self.sim.decision_ranges, self.horizon
        widths = np.array([last - first + h for first, last in ranges])
        ends = np.cumsum(widths)  # each segment's draws are [ends - widths, ends)
        draw = rng.integers(0, ends[-1], n)
        which = np.searchsorted(ends, draw, side="right")
        firsts = np.array([first for first, _ in ranges])[which]
        notional = firsts - h + 1 + draw - (ends - widths)[which]
        days = np.maximum(notional, firsts)
        return days, days - notional

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature windows (B, window, A, F) ending today, and current holdings (B, A+1)."""
        return self.sim.observe(self.t), self.holdings

    def step(self, weights: torch.Tensor) -> Step:
        """Trade every episode to its target ``weights`` (B, A+1) and move one day on."""
        scored = self.sim.score(self.t, self.holdings, weights[:, None, :])
        scored = Scored(*(x.squeeze(1) for x in scored))
        reward, state = self.reward.apply(self.reward_state, scored.net_return[:, None],
                                          scored.log_return[:, None],
                                          self.reward.benchmark(self.sim, self.t))
        return self.advance(scored, reward.squeeze(1), state.squeeze(1))

    def advance(self, scored: Scored, reward: torch.Tensor, reward_state: torch.Tensor) -> Step:
        """Move every episode on by an outcome already scored (one per episode)."""
        self.reward_state = reward_state
        self.holdings = scored.holdings
        self.wealth = self.wealth * (1.0 + scored.net_return)
        self.t = self.t + 1
        self.steps = self.steps + 1
        ended = self.t > self.sim.segment_stop[self.t - 1]  # the data or the segment ended
        truncated = ended | (self.steps >= self.horizon)
        return Step(reward, scored.ruined, truncated & ~scored.ruined, scored)
