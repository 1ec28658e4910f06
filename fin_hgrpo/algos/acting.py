"""An agent's networks and how they act: what every algorithm shares before learning.

An observation is (day t, holdings): features are a function of t, so an actor reads the
feature windows from its simulator. The policy names an action; the portfolio traded to
is the policy's weights (a tilt of a base portfolio for a residual policy), moved
``trade_rate`` of the way from the holdings, within the simulator's caps.
"""

from __future__ import annotations

import copy

import torch
from torch.distributions import Distribution

from fin_hgrpo.algos.bases import base_tensor, base_weights
from fin_hgrpo.algos.config import AgentConfig
from fin_hgrpo.algos.policies import Policy, ValueNet
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.errors import FinHgrpoError

_MIN_DIRICHLET = 1e-6


class Actor:
    """The policy (with a critic and a reference policy where the algorithm has them)
    on one simulator, and its own stream of random draws.

    ``uses_critic`` and ``uses_reference`` are the algorithm's; ``networks`` and
    ``load_networks`` copy what acting needs (early stopping keeps the best copy).
    """

    config_class: type[AgentConfig] = AgentConfig
    uses_critic = True
    uses_reference = False

    def __init__(self, sim: PortfolioSim, config: AgentConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        cfg = self.config
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise FinHgrpoError("device 'cuda' was asked for but CUDA is not available here")
        if sim.device != self.device:
            raise ValueError(f"the simulator lives on {sim.device}, the agent on {self.device}")
        if sim.long_short and cfg.distribution not in ("tilt", "two_books"):
            raise FinHgrpoError(f"a long-short book needs a residual policy (distribution = "
                                f"'tilt'), whose tilts go below zero, or 'two_books': "
                                f"{cfg.distribution!r} weights are long-only")
        if cfg.distribution == "two_books" and not sim.long_short:
            raise FinHgrpoError("distribution 'two_books' needs a long-short book "
                                "(constraints.long_short = true)")
        torch.manual_seed(cfg.seed)
        self.sim = sim
        self.policy, self.value = self._new_networks()
        self.base_table = base_tensor(sim, cfg.base)  # (T, A+1), or None
        self.reference = copy.deepcopy(self.policy) if self.uses_reference else None
        # the agent's own stream for sampling actions, continuing the seeded one that
        # built the networks: agents trained side by side never share draws
        self.generator = torch.Generator(device=self.device)
        if self.device.type == "cpu":
            self.generator.set_state(torch.get_rng_state())
        else:
            self.generator.manual_seed(cfg.seed)

    def _new_networks(self) -> tuple[Policy, ValueNet | None]:
        """A fresh policy (and critic), initialised from the global random stream."""
        cfg, sim = self.config, self.sim
        shape = (sim.window, sim.n_assets, sim.n_features)
        policy = Policy(*shape, hidden=cfg.hidden, encoder=cfg.encoder,
                        distribution=cfg.distribution, tilt_scale=cfg.tilt_scale,
                        sides=sim.book.sides() if cfg.distribution == "two_books"
                        else None).to(self.device)
        value = ValueNet(*shape, hidden=cfg.hidden, encoder=cfg.encoder).to(self.device) \
            if self.uses_critic else None
        return policy, value

    def initial_networks(self, seed: int) -> dict[str, dict[str, torch.Tensor]]:
        """The networks (as ``networks`` copies them) a fresh agent of this config starts
        from when its initialisation is seeded by ``seed``; the global random stream is
        left as it was. A warm start's perturbation."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            policy, value = self._new_networks()
        networks = {"policy": policy.state_dict()}
        if value is not None:
            networks["value"] = value.state_dict()
        return networks

    @property
    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """The policy's parameters, then the critic's: the order gradients clip in."""
        return [p for _, p in self._named_parameters()]

    def decayed(self) -> list[bool]:
        """Which trained parameters weight decay shrinks: the weight matrices (not the
        biases and other vectors, which carry the state-independent part of a policy),
        and not the holdings' input weights unless ``holdings_decay``."""
        return [p.dim() > 1 and (self.config.holdings_decay
                                 or not name.endswith("holdings_in.weight"))
                for name, p in self._named_parameters()]

    def _named_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        named = list(self.policy.named_parameters())
        return named + ([] if self.value is None else list(self.value.named_parameters()))

    # ---- acting ---------------------------------------------------------------------------
    def values_at(self, t: torch.Tensor, holdings: torch.Tensor) -> torch.Tensor:
        """V at days ``t`` (any shape) for ``holdings`` shaped t's shape + (A+1,), or
        t's shape + (G, A+1) for G portfolios on each day (features read once)."""
        flat_t = t.reshape(-1)
        grouped = holdings.dim() == t.dim() + 2
        flat_h = holdings.reshape(len(flat_t), *holdings.shape[t.dim():])
        values = self.value(self.sim.observe(flat_t), flat_h)
        return values.reshape(*t.shape, *(holdings.shape[-2:-1] if grouped else ()))

    @torch.no_grad()
    def act(self, t: torch.Tensor, holdings: torch.Tensor,
            deterministic: bool = True) -> torch.Tensor:
        """Target weights (B, A+1) at days ``t`` of the agent's own simulator."""
        return self.predict(self.sim.observe(t), holdings, deterministic,
                            base=self.base(t, holdings))

    @torch.no_grad()
    def predict(self, features: torch.Tensor, holdings: torch.Tensor,
                deterministic: bool = True, base: torch.Tensor | None = None) -> torch.Tensor:
        """Target weights from raw observations: (B, window, A, F) and (B, A+1); a
        residual policy also needs its ``base`` portfolio (B, A+1) unless it is the
        holdings."""
        kind = self.config.base
        if kind == "holdings":
            base = holdings
        elif kind is not None and base is None:
            raise ValueError(f"{type(self).__name__} tilts the {kind} portfolio: "
                             "predict needs it as base=")
        dist = self.policy(features, holdings)
        action = self.policy.deterministic(dist) if deterministic else self.sample(dist, 1)[:, 0]
        return self.to_targets(action, holdings, base)

    def base(self, t: torch.Tensor, holdings: torch.Tensor) -> torch.Tensor | None:
        """The base portfolio (B, A+1) of a residual policy at days ``t`` of the agent's
        simulator, for portfolios ``holdings``; None without a base."""
        return base_weights(self.config.base, self.base_table, t, holdings)

    def to_targets(self, actions: torch.Tensor, holdings: torch.Tensor,
                   base: torch.Tensor | None) -> torch.Tensor:
        """The weights traded to for ``actions`` (B, D) or (B, N, D) from ``holdings``
        (B, A+1): the policy's weights (a tilt of ``base``), moved ``trade_rate`` of the
        way from the holdings, within the caps; on a long-short book the tilt may go
        below zero, and the simulator projects the result onto the book's limits."""
        if actions.dim() == holdings.dim() + 1:
            holdings = holdings[:, None]
            base = None if base is None else base[:, None]
        weights = self.policy.signed_weights(actions, base) if self.sim.long_short else \
            self.policy.weights(actions, base)
        rate = self.config.trade_rate
        if rate < 1.0:
            weights = holdings + rate * (weights - holdings)
        return self.sim.constrain(weights)

    def sample(self, dist: Distribution, n: int) -> torch.Tensor:
        """n actions per state: (B, n, D), drawn from the agent's own generator; Dirichlet
        samples kept off the exact boundary."""
        actions = self.policy.sample(dist, n, self.generator).transpose(0, 1)
        if self.policy.distribution == "dirichlet":
            actions = actions.clamp(min=_MIN_DIRICHLET)
            actions = actions / actions.sum(-1, keepdim=True)
        return actions

    def continue_with(self, dist: Distribution, groups: int) -> torch.Tensor:
        """One action (B, D) per row of ``dist`` for the steps after a sample's scored
        first step; the B rows are states' G candidates in blocks of ``groups``. With
        common random numbers the candidates of a state share one noise draw, so that
        their continuations differ only where their holdings make the policy differ."""
        how = self.config.continues_with
        if how == "mean":
            return self.policy.deterministic(dist)
        if how == "sample":
            return self.sample(dist, 1)[:, 0]
        normal = dist.base_dist
        shape = normal.loc.shape
        noise = torch.randn((shape[0] // groups, 1, shape[-1]), generator=self.generator,
                            dtype=normal.loc.dtype, device=normal.loc.device)
        return normal.loc + normal.scale * noise.expand(-1, groups, -1).reshape(shape)

    @staticmethod
    def log_prob(dist: Distribution, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a) for (B, n, D) actions -> (B, n)."""
        return dist.log_prob(actions.transpose(0, 1)).transpose(0, 1)

    # ---- the networks ---------------------------------------------------------------------
    def networks(self) -> dict[str, dict[str, torch.Tensor]]:
        """Copies of the policy's (and the critic's) parameters: what acting needs."""
        copies = {"policy": _cloned(self.policy.state_dict())}
        if self.value is not None:
            copies["value"] = _cloned(self.value.state_dict())
        return copies

    def load_networks(self, networks: dict[str, dict[str, torch.Tensor]]) -> None:
        """Put back networks that ``networks`` copied (the critic's where both have one)."""
        self.policy.load_state_dict(networks["policy"])
        if self.value is not None and "value" in networks:
            self.value.load_state_dict(networks["value"])


def _cloned(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in state.items()}

