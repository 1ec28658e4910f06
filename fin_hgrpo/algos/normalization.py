"""Adaptive reward normalization: r~ = clip((r - mu) / (sigma + eps), -c, c).

Daily log returns are ~1e-3, far below the scale networks and clip ranges expect.
``scope="batch"`` keeps running estimates of mu and sigma over every reward seen,
updated once per batch, either exactly (``method="welford"``: Chan et al.'s parallel
form of Welford's algorithm) or as an exponential moving average (``method="ema"``,
weight ``decay`` on the past) that follows a drifting scale. ``scope="group"``
standardises each scored step of the group of candidates at one state by the group's
own mean and std (rewards come shaped (..., G samples, k steps)).
``method="none"`` leaves rewards as they are.
"""

from __future__ import annotations

from typing import Literal

import torch

Method = Literal["welford", "ema", "none"]
Scope = Literal["batch", "group"]


class RewardNormalizer:
    """Running reward statistics; ``state_dict`` makes them part of a checkpoint."""

    def __init__(self, method: Method = "welford", scope: Scope = "batch", *,
                 clip: float = 5.0, decay: float = 0.99, eps: float = 1e-8,
                 center: bool = True) -> None:
        if method not in ("welford", "ema", "none"):
            raise ValueError(f"normalization method must be welford, ema or none: {method!r}")
        if scope not in ("batch", "group"):
            raise ValueError(f"normalization scope must be batch or group: {scope!r}")
        self.method, self.scope = method, scope
        self.clip, self.decay, self.eps, self.center = clip, decay, eps, center
        self.count, self.mean, self.var = 0.0, 0.0, 1.0

    def update(self, rewards: torch.Tensor) -> None:
        """Fold a batch of rewards into the running estimates (batch scope only)."""
        if self.method == "none" or self.scope == "group":
            return
        values = rewards.detach().double().reshape(-1)
        n, mean = float(values.numel()), float(values.mean())
        var = float(values.var(0, unbiased=False))
        if self.method == "ema" and self.count > 0:
            self.mean = self.decay * self.mean + (1 - self.decay) * mean
            self.var = self.decay * self.var + (1 - self.decay) * var
            self.count += n
            return
        total = self.count + n
        delta = mean - self.mean
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.var = m2 / total
        self.count = total

    def __call__(self, rewards: torch.Tensor) -> torch.Tensor:
        """Normalise rewards shaped (..., G, k): G samples at a state, k scored steps
        each (batch scope accepts any shape)."""
        if self.method == "none":
            return rewards
        if self.scope == "group":
            mean = rewards.mean(-2, keepdim=True) if self.center else 0.0
            std = rewards.std(-2, keepdim=True, unbiased=False) if rewards.shape[-2] > 1 else \
                torch.ones_like(rewards[..., :1, :])
            return ((rewards - mean) / (std + self.eps)).clamp(-self.clip, self.clip)
        mean = self.mean if self.center else 0.0
        scaled = (rewards - mean) / (self.var**0.5 + self.eps)
        return scaled.clamp(-self.clip, self.clip)

    def state_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "var": self.var}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.count, self.mean, self.var = state["count"], state["mean"], state["var"]
