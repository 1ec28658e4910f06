"""Rewards from the simulator's outcome of a step; pure functions of (state, outcome).

The state is a small tensor per episode (running moments, drawdown), so candidates at
one state can be scored without advancing it: ``apply`` broadcasts a (B, S) state over
(B, N) outcomes and returns (B, N) rewards and (B, N, S) next states.

- ``log_return``: log(1 + net return), whose sum over an episode is log wealth;
- ``simple_return``: the net return;
- ``differential_sharpe``: Moody and Saffell's differential Sharpe ratio with
  adaptation rate ``eta``: D = (B dA - A dB / 2) / (B - A^2)^(3/2) over the EMAs A, B of
  returns and squared returns;
- ``risk_adjusted``: log return minus ``lam`` times a penalty: ``variance`` (squared
  deviation from the EMA of log returns) or ``drawdown`` (the increase of the drawdown
  of log wealth from its running peak).

``relative = "equal_weight"`` scores every kind on the active return instead: the
portfolio's log return net of its costs less 1/N's over the same day (equal weights over
the names tradable at the close, ``PortfolioSim.equal_weight_log_return``), so that an
advantage no longer carries the market's common move and ``risk_adjusted`` with the
variance penalty is a mean-variance utility of the active return (1/N's own rebalancing
costs, a fraction of a basis point a day and the same for every sample of a state,
are not subtracted).

The EMAs of the two kinds that read them start warm: an episode begins with the EMAs
of the equal-weighted portfolio's returns up to its first day (debiased), not with
zeros, whose variance floor made the first days' differential Sharpe rewards explode
(on active returns they start at zero: 1/N's active return is nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from fin_hgrpo.envs.sim import PortfolioSim

RewardKind = Literal["log_return", "simple_return", "differential_sharpe", "risk_adjusted"]
Penalty = Literal["variance", "drawdown"]
Relative = Literal["none", "equal_weight"]
REWARD_KINDS: tuple[str, ...] = ("log_return", "simple_return", "differential_sharpe",
                                 "risk_adjusted")
_VARIANCE_FLOOR = 1e-8

# State columns: EMA of returns, EMA of squared returns, log wealth, running peak of it.
STATE_SIZE = 4


class Reward:
    """A reward rule with its parameters; stateless itself, state passed explicitly."""

    def __init__(self, kind: RewardKind = "log_return", *, eta: float = 0.01,
                 lam: float = 0.0, penalty: Penalty = "variance",
                 relative: Relative = "none") -> None:
        if kind not in REWARD_KINDS:
            raise ValueError(f"reward must be one of {REWARD_KINDS}, got {kind!r}")
        if penalty not in ("variance", "drawdown"):
            raise ValueError(f"penalty must be 'variance' or 'drawdown', got {penalty!r}")
        if relative not in ("none", "equal_weight"):
            raise ValueError(f"relative must be 'none' or 'equal_weight', got {relative!r}")
        self.kind, self.eta, self.lam, self.penalty = kind, eta, lam, penalty
        self.relative = relative

    def benchmark(self, sim: PortfolioSim, t: torch.Tensor) -> torch.Tensor | None:
        """What ``apply`` subtracts on days ``t`` (B,): 1/N's log return from each close
        to the next for a relative reward, else None."""
        return None if self.relative == "none" else sim.equal_weight_log_return(t)

    def initial_state(self, batch: int, dtype: torch.dtype = torch.float64,
                      device: str | torch.device = "cpu") -> torch.Tensor:
        return torch.zeros(batch, STATE_SIZE, dtype=dtype, device=device)

    def warm_states(self, relatives: torch.Tensor) -> torch.Tensor:
        """The state (T+1, S) to start an episode on each day, from the price relatives
        (T, A+1) of the days before it (row t: from the close of t to t+1): the EMAs of
        the equal-weighted assets' returns up to that close, zero for the kinds that do
        not read them and on the first day."""
        states = torch.zeros(len(relatives) + 1, STATE_SIZE, dtype=relatives.dtype,
                             device=relatives.device)
        if self.kind not in ("differential_sharpe", "risk_adjusted") or not len(relatives) \
                or self.relative != "none":
            return states
        simple = relatives[:, :-1].mean(-1) - 1.0
        returns = torch.log1p(simple) if self.kind == "risk_adjusted" else simple
        decay = 1.0 - self.eta
        mean = square = mass = 0.0
        for day, value in enumerate(returns.tolist(), start=1):
            mean = decay * mean + self.eta * value
            square = decay * square + self.eta * value * value
            mass = decay * mass + self.eta
            states[day, 0], states[day, 1] = mean / mass, square / mass
        return states

    def apply(self, state: torch.Tensor, net_return: torch.Tensor, log_return: torch.Tensor,
              benchmark: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rewards (B, N) and next states (B, N, S) for outcomes (B, N) from states (B, S);
        a relative reward subtracts ``benchmark`` (B,), 1/N's log returns (``benchmark``)."""
        if self.relative != "none":
            if benchmark is None:
                raise ValueError("a reward relative to equal_weight needs 1/N's log returns")
            log_return = log_return - benchmark[:, None]
            net_return = torch.expm1(log_return)
        mean, square, wealth, peak = (state[:, None, i] for i in range(STATE_SIZE))
        new_wealth = wealth + log_return
        new_peak = torch.maximum(peak, new_wealth)
        returns = log_return if self.kind == "risk_adjusted" else net_return
        new_mean = mean + self.eta * (returns - mean)
        new_square = square + self.eta * (returns**2 - square)
        if self.kind == "log_return":
            reward = log_return
        elif self.kind == "simple_return":
            reward = net_return
        elif self.kind == "differential_sharpe":
            variance = (square - mean**2).clamp(min=_VARIANCE_FLOOR)
            reward = (square * (returns - mean) - 0.5 * mean * (returns**2 - square)) \
                / variance**1.5
        elif self.penalty == "variance":
            reward = log_return - self.lam * (log_return - mean) ** 2
        else:
            drawdown_rise = (new_peak - new_wealth) - (peak - wealth)
            reward = log_return - self.lam * drawdown_rise.clamp(min=0.0)
        next_state = torch.stack([new_mean, new_square, new_wealth, new_peak], dim=-1)
        return reward, next_state
