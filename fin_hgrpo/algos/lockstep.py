"""Lockstep: a population's members collect their rollouts as one batched rollout.

Each member acts on its own training window with its own networks and random streams.
Collected one member after another, every small operation of a step (a policy forward
over 32 episodes, a simulator step) is paid K times. In lockstep the members'
simulators are laid end to end as one (``PortfolioSim.joined``), their episodes are
rows of one batch (member k's are rows k*E .. (k+1)*E-1), and each policy forward is one
``vmap`` over the members' stacked networks, so ``rollout.collect`` runs unchanged on
all of them at once. What draws random numbers (sampling actions, choosing the sample
that advances, restarting episodes) still draws from each member's own streams, in the
order it would alone: a member's rollout is the one it collects alone, up to the
rounding of batched products.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Distribution
from torch.func import functional_call, vmap

from fin_hgrpo.algos.acting import Actor
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.policies import Policy, distribution_rows
from fin_hgrpo.algos.rollout import Rollout, collect
from fin_hgrpo.algos.stacking import member_layout, stacked
from fin_hgrpo.envs import PortfolioSim, Scored
from fin_hgrpo.envs.episodes import Step


class Lockstep:
    """Members of one algorithm and architecture acting as one actor (the part of
    ``Actor`` that ``rollout.collect`` reads) on their joined simulators."""

    # the same arithmetic as each member's: the policy's weights, the trade rate, the
    # caps, the base portfolio's rows (of the joined base tables)
    to_targets = Actor.to_targets
    base = Actor.base
    log_prob = staticmethod(Actor.log_prob)

    def __init__(self, members: Sequence[Agent]) -> None:
        self.members = list(members)
        self.config = members[0].config
        self.sim, self.offsets = PortfolioSim.joined([member.sim for member in members])
        tables = [member.base_table for member in members]
        self.base_table = None if tables[0] is None else torch.cat(tables)
        self.policy = _JoinedPolicy([member.policy for member in members])
        self.episodes = _JoinedEpisodes(self.members, self.offsets)

    def collect(self) -> list[Rollout]:
        """One iteration's rollout of every member, each counted as its own."""
        cfg = self.config
        joined = collect(self, self.episodes, self.select, cfg.n_steps, cfg.group_size,
                         cfg.sub_steps, None, cfg.advance)
        return [member.collected(self._member_rollout(joined, k))
                for k, member in enumerate(self.members)]

    # ---- what draws random numbers: each member, on its rows ---------------------------
    def sample(self, dist: Distribution, n: int) -> torch.Tensor:
        """n actions per row, each member's rows from its own stream. A Gaussian
        policy's draws are each member's standard normals, then one affine map for all:
        ``loc + scale * z`` is what ``torch.normal`` computes, to the bit."""
        if self.policy.distribution == "dirichlet":
            return torch.cat([member.sample(distribution_rows(dist, rows), n)
                              for member, rows in self._split(dist.batch_shape[0])])
        normal = dist.base_dist
        noise = self._normals(normal.loc, lambda size: (n, size, normal.loc.shape[-1]), 1)
        return (normal.loc + normal.scale * noise).transpose(0, 1)

    def continue_with(self, dist: Distribution, groups: int) -> torch.Tensor:
        """One action per row after a sample's first step (``Actor.continue_with``):
        with common random numbers, each member's state draws one noise from its own
        stream, mapped for all members at once."""
        if self.config.continues_with != "common":
            return torch.cat([member.continue_with(distribution_rows(dist, rows), groups)
                              for member, rows in self._split(dist.batch_shape[0])])
        normal = dist.base_dist
        shape = normal.loc.shape
        noise = self._normals(normal.loc, lambda size: (size // groups, 1, shape[-1]), 0)
        return normal.loc + normal.scale * noise.expand(-1, groups, -1).reshape(shape)

    def _normals(self, like: torch.Tensor, shape, dim: int) -> torch.Tensor:
        """Standard normals of every member, ``shape(rows)`` each from its own
        generator, joined along ``dim``."""
        return torch.cat([torch.randn(shape(rows.stop - rows.start), generator=member.generator,
                                      dtype=like.dtype, device=like.device)
                          for member, rows in self._split(len(like))], dim)

    def select(self, rewards: torch.Tensor, ahead: dict[str, torch.Tensor]) -> torch.Tensor:
        chosen = []
        for k, (member, rows) in enumerate(self._split(len(rewards))):
            own = {name: value[rows] for name, value in ahead.items()}
            own["final_t"] = own["final_t"] - self.offsets[k]
            chosen.append(member.select(rewards[rows], own))
        return torch.cat(chosen)

    def _split(self, n: int) -> list[tuple[Agent, slice]]:
        """Each member and its rows of n."""
        return list(zip(self.members, _shares(n, len(self.members)), strict=True))

    def _member_rollout(self, joined: Rollout, k: int) -> Rollout:
        """Member k's columns of the joined rollout, its days in its own simulator's."""
        rows = _shares(self.episodes.n, len(self.members))[k]
        fields = {name: getattr(joined, name)[:, rows] for name in Rollout.__annotations__}
        fields["t"] = fields["t"] - self.offsets[k]
        fields["final_t"] = fields["final_t"] - self.offsets[k]
        return Rollout(**fields)


class _DistributionParameters(nn.Module):
    """A policy's distribution parameters as its forward (for ``functional_call``)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, features: torch.Tensor,
                holdings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.policy.distribution_parameters(features, holdings)


class _JoinedPolicy:
    """The members' policies as one: rows in, one distribution over all rows out, each
    member's rows through its own network (one ``vmap`` over the stacked networks)."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.module = policies[0]
        self.distribution = self.module.distribution
        names = [name for name, _ in self.module.named_parameters()]
        each = [dict(policy.named_parameters()) for policy in policies]
        self.params = {f"policy.{name}": stacked([own[name].detach() for own in each])
                       for name in names}
        self.members = len(policies)
        wrapper = _DistributionParameters(self.module)
        self._forward = vmap(lambda params, features, holdings: functional_call(
            wrapper, {name: member_layout(p) for name, p in params.items()},
            (features, holdings), tie_weights=False))  # no tied weights: skip the search

    def __call__(self, features: torch.Tensor, holdings: torch.Tensor) -> Distribution:
        k = self.members
        out = self._forward(self.params, features.reshape(k, -1, *features.shape[1:]),
                            holdings.reshape(k, -1, *holdings.shape[1:]))
        return self.module.distribution_of(*(x.reshape(-1, *x.shape[2:]) for x in out))

    def deterministic(self, dist: Distribution) -> torch.Tensor:
        return self.module.deterministic(dist)

    def weights(self, actions: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        return self.module.weights(actions, base)

    def signed_weights(self, actions: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return self.module.signed_weights(actions, base)


class _JoinedEpisodes:
    """The members' episodes as rows of one batch, days in the joined simulator's;
    stepping and restarting are each member's own."""

    def __init__(self, members: Sequence[Agent], offsets: Sequence[int]) -> None:
        self.members, self.offsets = members, offsets
        self.parts = [member.episodes for member in members]
        self.n = sum(part.n for part in self.parts)
        self.reward = self.parts[0].reward
        self._rows = _shares(self.n, len(self.parts))

    @property
    def t(self) -> torch.Tensor:
        return torch.cat([part.t + offset
                          for part, offset in zip(self.parts, self.offsets, strict=True)])

    @property
    def holdings(self) -> torch.Tensor:
        return torch.cat([part.holdings for part in self.parts])

    @property
    def reward_state(self) -> torch.Tensor:
        return torch.cat([part.reward_state for part in self.parts])

    def advance(self, scored: Scored, reward: torch.Tensor, reward_state: torch.Tensor) -> Step:
        steps = [part.advance(Scored(*(x[rows] for x in scored)), reward[rows],
                              reward_state[rows])
                 for part, rows in zip(self.parts, self._rows, strict=True)]
        return Step(*(torch.cat(values) for values in zip(*(step[:3] for step in steps),
                                                            strict=True)),
                    Scored(*(torch.cat(values)
                             for values in zip(*(step.scored for step in steps), strict=True))))

    def reset(self, rng: np.random.Generator | None, which: torch.Tensor) -> None:
        """Restart the ``which`` episodes, each member's from its own stream (``rng``,
        the stream of a lone agent, is not used)."""
        for member, part, rows in zip(self.members, self.parts, self._rows, strict=True):
            part.reset(member.rng, which[rows])


def _shares(n: int, members: int) -> list[slice]:
    """Each member's rows of n joined rows: member-major, equal shares (members have
    as many episodes each, and each of their states as many samples)."""
    size = n // members
    return [slice(k * size, (k + 1) * size) for k in range(members)]
