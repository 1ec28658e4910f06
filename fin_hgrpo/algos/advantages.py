"""Advantage estimators: pure functions of rewards and values, one per algorithm family.

Shapes: S states of a rollout laid out as (T steps, E episodes), G samples per state.
"""

from __future__ import annotations

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        terminated: torch.Tensor, ended: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over (T, E) tensors (PPO).

    ``next_values`` is V of the state each step led to (bootstrapped at truncation);
    ``terminated`` zeroes it at the end of the data; ``ended`` (terminated or
    truncated) stops the recursion at an episode boundary. Returns advantages and
    return targets (advantage + V).
    """
    deltas = rewards + gamma * next_values * (~terminated) - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(len(rewards) - 1, -1, -1):
        running = deltas[t] + gamma * lam * (~ended[t]) * running
        advantages[t] = running
    return advantages, advantages + values


def group_relative(rewards: torch.Tensor, scale: bool = True,
                   eps: float = 1e-8) -> torch.Tensor:
    """GRPO: each sample's reward standardised within its group (S, G)."""
    centred = rewards - rewards.mean(-1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(-1, keepdim=True, unbiased=False) + eps)


def hybrid(q: torch.Tensor, q_executed: torch.Tensor, value: torch.Tensor,
           mode: str, alpha: float | None) -> torch.Tensor:
    """Hybrid GRPO advantages (S, G) from empirical values of every sample.

    ``q``: (S, G) f(r_i) + gamma^k V(s'_i) per sample (after k scored steps);
    ``q_executed``: (S,) the paper's empirical term, mean_i f(r_i) + gamma V(s'), with
    s' the state the executed sample led to; ``value``: (S,) V(s).

    - ``paper``: q_executed - V(s), the same for every sample (as the paper states);
    - ``per_sample``: q_i - V(s);
    - ``group_baseline``: q_i - mean_j q_j (group-relative: what is common to the group,
      the day's market move, cancels);
    - ``group_standardized``: group_baseline divided by the group's standard deviation,
      as GRPO scales its rewards;
    - ``alpha`` in [0, 1] blends: alpha * per_sample + (1 - alpha) * paper.
    """
    per_sample = q - value[..., None]
    paper = (q_executed - value)[..., None].expand_as(q)
    if alpha is not None:
        return alpha * per_sample + (1.0 - alpha) * paper
    if mode == "paper":
        return paper
    if mode == "per_sample":
        return per_sample
    if mode == "group_baseline":
        return group_relative(q, scale=False)
    if mode == "group_standardized":
        return group_relative(q)
    raise ValueError(f"advantage must be paper, per_sample, group_baseline or "
                     f"group_standardized: {mode!r}")


def within_group_share(advantages: torch.Tensor) -> float:
    """The share of the advantages' variance (S, G) that lies within groups: what tells
    one state's samples apart. The rest is common to each group, and in a policy
    gradient it is noise (zero in expectation, not in one batch)."""
    total = float(advantages.var(unbiased=False))
    if total == 0:
        return float("nan")
    return float(advantages.var(-1, unbiased=False).mean()) / total
