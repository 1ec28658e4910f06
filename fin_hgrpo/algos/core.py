"""The trainer core PPO, GRPO and Hybrid GRPO share.

An iteration collects a rollout of ``n_steps`` steps of ``n_envs`` parallel episodes
through ``Episodes`` (no Python loop over episodes). At each state the policy samples
``group_size`` actions; ``PortfolioSim.score`` prices all of them at once against the
same next-day returns, and ``sub_steps > 1`` follows each for k-1 more steps under the
current policy (again batched). One sample per state advances its episode. Then the
algorithm turns the rollout into advantages (and value targets), and every sample gets
the clipped-ratio update over epochs of shuffled minibatches.

An observation is (day t, holdings): features are a function of t, so rollouts keep
indices and holdings and re-read the feature windows from the simulator.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fin_hgrpo.algos.bases import base_tensor, base_weights
from fin_hgrpo.algos.config import AgentConfig
from fin_hgrpo.algos.normalization import RewardNormalizer
from fin_hgrpo.algos.policies import Policy, ValueNet
from fin_hgrpo.envs import Episodes, PortfolioSim, Reward, Scored
from fin_hgrpo.errors import FinHgrpoError

_MIN_DIRICHLET = 1e-6
WALL_CLOCK = ("states_per_second",)  # metrics kept out of checkpoints: they vary by run


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


class Agent(ABC):
    """Base of PPO, GRPO and Hybrid GRPO; subclasses supply ``targets`` (and flags).

    ``learn`` trains, ``predict``/``act`` give deterministic weights, ``state_dict`` /
    ``load_state_dict`` keep everything a resumed run needs (networks, optimisers,
    normaliser, counters, episode and RNG states); ``algos.runs`` writes them to disk.
    """

    config_class: type[AgentConfig] = AgentConfig
    uses_critic = True
    uses_reference = False

    def __init__(self, sim: PortfolioSim, config: AgentConfig | None = None,
                 reward: Reward | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        cfg = self.config
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise FinHgrpoError("device 'cuda' was asked for but CUDA is not available here")
        if sim.device != self.device:
            raise ValueError(f"the simulator lives on {sim.device}, the agent on {self.device}")
        torch.manual_seed(cfg.seed)
        self.sim, self.reward = sim, reward or Reward()
        self.rng = np.random.default_rng(cfg.seed)
        shape = (sim.window, sim.n_assets, sim.n_features)
        self.policy = Policy(*shape, hidden=cfg.hidden, encoder=cfg.encoder,
                             distribution=cfg.distribution,
                             tilt_scale=cfg.tilt_scale).to(self.device)
        self.base_table = base_tensor(sim, cfg.base)  # (T, A+1), or None
        params = list(self.policy.parameters())
        self.value: ValueNet | None = None
        if self.uses_critic:
            self.value = ValueNet(*shape, hidden=cfg.hidden, encoder=cfg.encoder).to(self.device)
            params += list(self.value.parameters())
        self.trained_parameters = params  # policy, then critic: the order gradients clip in
        self.reference = copy.deepcopy(self.policy) if self.uses_reference else None
        # the agent's own stream for sampling actions, continuing the seeded one that
        # built the networks: agents trained side by side never share draws
        self.generator = torch.Generator(device=self.device)
        if self.device.type == "cpu":
            self.generator.set_state(torch.get_rng_state())
        else:
            self.generator.manual_seed(cfg.seed)
        # foreach: one fused kernel per step over all parameters (CPU defaults to a loop)
        self.optimizer = torch.optim.AdamW(weight_decay_groups(params, cfg.weight_decay),
                                           lr=cfg.learning_rate, eps=1e-5, foreach=True)
        self.log_entropy_coef = torch.tensor(float(np.log(max(cfg.entropy_coef, 1e-8))),
                                             requires_grad=cfg.entropy_target is not None)
        self.entropy_optimizer = (torch.optim.Adam([self.log_entropy_coef], lr=1e-3)
                                  if cfg.entropy_target is not None else None)
        self._loss_fn = self._loss_function()
        self.normalizer = RewardNormalizer(cfg.reward_norm, cfg.reward_norm_scope,
                                           clip=cfg.reward_clip, decay=cfg.reward_ema_decay)
        self.episodes = Episodes(sim, self.reward, cfg.n_envs, horizon=cfg.horizon,
                                 random_start=True)
        self.episodes.reset(self.rng)
        self.iteration = 0
        self.states_seen = 0
        self.actions_scored = 0
        self.history: list[dict[str, float]] = []

    def _loss_function(self) -> Callable[..., dict[str, torch.Tensor]]:
        """``_losses``, through torch.compile when the config asks (on CPU, Inductor
        builds C++ kernels)."""
        if not self.config.compile:
            return self._losses
        if self.device.type == "cpu" and cpp_compiler() is None:
            raise FinHgrpoError(f"compile = true needs a C++ compiler on CPU: "
                                f"{os.environ.get('CXX', 'g++')!r} was not found "
                                "(install one or set CXX)")
        return torch.compile(self._losses)

    def __getstate__(self) -> dict:
        """Pickled without the compiled loss (a process pool or Ray may ship agents)."""
        state = self.__dict__.copy()
        del state["_loss_fn"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._loss_fn = self._loss_function()

    # ---- what subclasses supply ---------------------------------------------------------
    @abstractmethod
    def targets(self, rollout: Rollout) -> Targets:
        """Per-sample advantages (and value targets) from a rollout: the algorithm."""

    # ---- acting -------------------------------------------------------------------------
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
        action = self.policy.deterministic(dist) if deterministic else self._sample(dist, 1)[:, 0]
        return self.to_targets(action, holdings, base)

    def base(self, t: torch.Tensor, holdings: torch.Tensor) -> torch.Tensor | None:
        """The base portfolio (B, A+1) of a residual policy at days ``t`` of the agent's
        simulator, for portfolios ``holdings``; None without a base."""
        return base_weights(self.config.base, self.base_table, t, holdings)

    def to_targets(self, actions: torch.Tensor, holdings: torch.Tensor,
                   base: torch.Tensor | None) -> torch.Tensor:
        """The weights traded to for ``actions`` (B, D) or (B, N, D) from ``holdings``
        (B, A+1): the policy's weights (a tilt of ``base``), moved ``trade_rate`` of the
        way from the holdings, within the caps."""
        if actions.dim() == holdings.dim() + 1:
            holdings = holdings[:, None]
            base = None if base is None else base[:, None]
        weights = self.policy.weights(actions, base)
        rate = self.config.trade_rate
        if rate < 1.0:
            weights = holdings + rate * (weights - holdings)
        return self.sim.constrain(weights)

    def _sample(self, dist, n: int) -> torch.Tensor:
        """n actions per state: (B, n, D), drawn from the agent's own generator; Dirichlet
        samples kept off the exact boundary."""
        actions = self.policy.sample(dist, n, self.generator).transpose(0, 1)
        if self.policy.distribution == "dirichlet":
            actions = actions.clamp(min=_MIN_DIRICHLET)
            actions = actions / actions.sum(-1, keepdim=True)
        return actions

    @staticmethod
    def _log_prob(dist, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a) for (B, n, D) actions -> (B, n)."""
        return dist.log_prob(actions.transpose(0, 1)).transpose(0, 1)

    # ---- collecting ---------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> Rollout:
        cfg, sim, episodes = self.config, self.sim, self.episodes
        steps, n, g, k = cfg.n_steps, cfg.n_envs, cfg.group_size, cfg.sub_steps
        rows: dict[str, list[torch.Tensor]] = {name: [] for name in Rollout.__annotations__}
        for _ in range(steps):
            t, holdings = episodes.t.clone(), episodes.holdings.clone()
            dist = self.policy(sim.observe(t), holdings)
            actions = self._sample(dist, g)
            log_probs = self._log_prob(dist, actions)
            weights = self.to_targets(actions, holdings, self.base(t, holdings))
            scored = sim.score(t, holdings, weights)
            rewards, states = self.reward.apply(episodes.reward_state, scored.net_return,
                                                scored.log_return)
            sub = self._score_ahead(t, scored, rewards, states, k)
            executed = self._select(rewards, sub)
            every = torch.arange(n, device=executed.device)
            chosen = Scored(*(x[every, executed] for x in scored))
            step = episodes.advance(chosen, rewards[every, executed], states[every, executed])
            ended = step.terminated | step.truncated
            episodes.reset(self.rng, ended)
            for name, value in (("t", t), ("holdings", holdings), ("actions", actions),
                                ("log_probs", log_probs), ("executed", executed),
                                ("terminated", step.terminated), ("ended", ended),
                                ("log_growth", chosen.log_return), *sub.items()):
                rows[name].append(value)
        self.states_seen += steps * n
        self.actions_scored += steps * n * g * k
        return Rollout(**{name: torch.stack(values) for name, values in rows.items()})

    def _score_ahead(self, t, scored, rewards, states, k) -> dict[str, torch.Tensor]:
        """Follow every sample for k-1 more steps under the current policy, batched."""
        n, g = rewards.shape
        day = (t[:, None] + 1).expand(n, g).reshape(-1)
        holdings = scored.holdings.reshape(n * g, -1)
        reward_state = states.reshape(n * g, -1)
        all_rewards, alive = [rewards.reshape(-1)], [torch.ones_like(day, dtype=torch.bool)]
        live = day <= self.sim.last_decision
        for _ in range(k - 1):
            safe = day.clamp(max=self.sim.last_decision)
            action = self._sample(self.policy(self.sim.observe(safe), holdings), 1)[:, 0]
            weights = self.to_targets(action, holdings, self.base(safe, holdings))
            out = self.sim.score(safe, holdings, weights[:, None])
            reward, next_state = self.reward.apply(reward_state, out.net_return, out.log_return)
            all_rewards.append(torch.where(live, reward[:, 0], 0.0))
            alive.append(live.clone())
            holdings = torch.where(live[:, None], out.holdings[:, 0], holdings)
            reward_state = torch.where(live[:, None], next_state[:, 0], reward_state)
            day = torch.where(live, day + 1, day)
            live = live & (day <= self.sim.last_decision)
        return {
            "rewards": torch.stack(all_rewards, -1).reshape(n, g, k),
            "alive": torch.stack(alive, -1).reshape(n, g, k),
            "final_t": day.clamp(max=self.sim.last_decision + 1).reshape(n, g)[:, 0],
            "final_holdings": holdings.reshape(n, g, -1),
        }

    def _select(self, rewards: torch.Tensor, sub: dict) -> torch.Tensor:
        """Which sample advances each episode: uniformly at random by default."""
        n, g = rewards.shape
        return torch.as_tensor(self.rng.integers(0, g, n), device=rewards.device)

    # ---- helpers for targets -----------------------------------------------------------
    def transformed(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards after adaptive normalisation (statistics updated by ``learn``)."""
        return self.normalizer(rewards)

    def discounted(self, rewards: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """sum_j gamma^j r_j over the last axis (the k scored steps)."""
        k = rewards.shape[-1]
        powers = self.config.gamma ** torch.arange(k, dtype=rewards.dtype, device=rewards.device)
        return (rewards * alive * powers).sum(-1)

    # ---- learning -----------------------------------------------------------------------
    def learn(self, total_states: int,
              callback: Callable[[Agent, dict[str, float]], bool | None] | None = None) -> Agent:
        """Train until ``total_states`` market states have been visited in all.

        ``callback(agent, metrics)`` runs after every iteration; returning False stops.
        """
        total_iterations = self.iterations_for(total_states)
        while self.iteration < total_iterations:
            for group in self.optimizer.param_groups:
                group["lr"] = self.scheduled_lr(total_iterations)
            metrics = self.train_iteration()
            if callback is not None and callback(self, metrics) is False:
                break
        return self

    def scheduled_lr(self, total_iterations: int) -> float:
        """The learning rate of the next iteration of a run of ``total_iterations``:
        annealed linearly to zero with ``anneal_lr``, else the configured one."""
        if not self.config.anneal_lr:
            return self.config.learning_rate
        return (1.0 - self.iteration / total_iterations) * self.config.learning_rate

    def iterations_for(self, total_states: int) -> int:
        """Iterations that visit at least ``total_states`` market states (at least one)."""
        return self.config.iterations_for(total_states)

    def train_iteration(self) -> dict[str, float]:
        """Collect one rollout and update on it; returns the iteration's diagnostics."""
        start = time.perf_counter()
        rollout, targets = self.prepare_update()
        metrics = self._update(rollout, targets)
        return self.finish_iteration(rollout, metrics, time.perf_counter() - start)

    def prepare_update(self) -> tuple[Rollout, Targets]:
        """An iteration up to its update: collect, fold the rewards into the normaliser,
        refresh the reference policy when due, derive the targets."""
        rollout = self.collect()
        self.normalizer.update(rollout.rewards[rollout.alive])
        if self.reference is not None and self.iteration % self.config.ref_update_every == 0:
            self.reference.load_state_dict(self.policy.state_dict())
        return rollout, self.targets(rollout)

    def finish_iteration(self, rollout: Rollout, metrics: dict[str, float],
                         elapsed: float) -> dict[str, float]:
        """Count the iteration and record its diagnostics after the update."""
        self.iteration += 1
        metrics.update(
            iteration=self.iteration, states=self.states_seen, actions_scored=self.actions_scored,
            mean_reward=float(rollout.rewards[..., 0].mean()),
            mean_log_growth=float(rollout.log_growth.mean()),
            lr=self.optimizer.param_groups[0]["lr"],
            states_per_second=self.config.states_per_iteration / elapsed,
        )
        self.history.append(metrics)
        return metrics

    def _update(self, rollout: Rollout, targets: Targets) -> dict[str, float]:
        cfg = self.config
        t = rollout.t.reshape(-1)
        holdings = rollout.holdings.reshape(len(t), -1)
        actions = rollout.actions.reshape(len(t), cfg.group_size, -1)
        old_log_probs = rollout.log_probs.reshape(len(t), -1)
        advantages = targets.advantages.reshape(len(t), -1)
        returns = None if targets.returns is None else targets.returns.reshape(-1)
        old_values = None if targets.values is None else targets.values.reshape(-1)
        size = max(1, len(t) // cfg.minibatches)
        all_features = self.sim.observe(t)  # read once: features depend on the day alone
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "entropy": [],
                                         "approx_kl": [], "clip_fraction": [], "ref_kl": []}
        for _ in range(cfg.epochs):
            order = torch.as_tensor(self.rng.permutation(len(t)), device=t.device)
            for lo in range(0, len(t), size):
                mb = order[lo:lo + size]
                out = self._loss_fn(all_features[mb], holdings[mb], actions[mb],
                                   old_log_probs[mb], advantages[mb],
                                   None if returns is None else returns[mb],
                                   None if old_values is None else old_values[mb],
                                   self.log_entropy_coef.exp().detach())
                self.optimizer.zero_grad()
                out["loss"].backward()
                try:
                    nn.utils.clip_grad_norm_(self.trained_parameters, cfg.max_grad_norm,
                                             error_if_nonfinite=True)
                except RuntimeError as error:
                    raise self.divergence(out["entropy"].item()) from error
                self.optimizer.step()
                entropy = out["entropy"].item()
                if self.entropy_optimizer is not None:
                    # SAC-style: the coefficient grows while entropy is below its target
                    entropy_loss = self.log_entropy_coef * (entropy - cfg.entropy_target)
                    self.entropy_optimizer.zero_grad()
                    entropy_loss.backward()
                    self.entropy_optimizer.step()
                for name in stats:
                    if name in out:
                        stats[name].append(out[name].item())
            if cfg.target_kl is not None and np.mean(stats["approx_kl"][-cfg.minibatches:]) \
                    > cfg.target_kl:
                break
        return update_metrics(stats, float(self.log_entropy_coef.detach().exp()), returns,
                              old_values)

    def divergence(self, entropy: float) -> FinHgrpoError:
        """The error of an update whose gradients were not finite (it is not applied)."""
        return FinHgrpoError(
            f"{type(self).__name__} (seed {self.config.seed}) diverged in iteration "
            f"{self.iteration + 1}: non-finite gradients (policy entropy {entropy:.4g}); "
            "the update was not applied. A policy collapsed onto a corner is the usual "
            "cause: a larger entropy_coef or a smaller learning_rate keeps it stable")

    def _losses(self, features: torch.Tensor, holdings: torch.Tensor, actions: torch.Tensor,
                old_log_probs: torch.Tensor, advantages: torch.Tensor,
                returns: torch.Tensor | None, old_values: torch.Tensor | None,
                entropy_coef: torch.Tensor) -> dict[str, torch.Tensor]:
        """One minibatch's loss and its diagnostics (``compile`` compiles this)."""
        cfg = self.config
        dist = self.policy(features, holdings)
        log_probs = self._log_prob(dist, actions)
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        adv = advantages
        if cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
        entropy = dist.entropy().mean()
        out = {"policy_loss": policy_loss.detach(), "entropy": entropy.detach()}
        loss = policy_loss - entropy_coef * entropy
        if self.value is not None:
            value_loss = self._value_loss(self.value(features, holdings), returns, old_values)
            loss = loss + cfg.value_coef * value_loss
            out["value_loss"] = value_loss.detach()
        if self.reference is not None:
            with torch.no_grad():
                ref_log_probs = self._log_prob(self.reference(features, holdings), actions)
            log_ref_ratio = ref_log_probs - log_probs
            ref_kl = (log_ref_ratio.exp() - log_ref_ratio - 1).mean()  # k3 estimator
            loss = loss + cfg.kl_coef * ref_kl
            out["ref_kl"] = ref_kl.detach()
        with torch.no_grad():
            out["approx_kl"] = ((ratio - 1) - log_ratio).mean()
            out["clip_fraction"] = ((ratio - 1).abs() > cfg.clip).float().mean()
        out["loss"] = loss
        return out

    def _value_loss(self, values: torch.Tensor, returns: torch.Tensor,
                    old_values: torch.Tensor) -> torch.Tensor:
        unclipped = (values - returns) ** 2
        if not getattr(self.config, "clip_value", False):
            return 0.5 * unclipped.mean()
        clipped = old_values + (values - old_values).clamp(-self.config.clip, self.config.clip)
        return 0.5 * torch.max(unclipped, (clipped - returns) ** 2).mean()

    # ---- persistence --------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything to resume exactly: networks, optimisers, normaliser, counters, RNGs."""
        return {
            "algorithm": type(self).__name__,
            "config": self.config.model_dump(),
            "policy": self.policy.state_dict(),
            "value": None if self.value is None else self.value.state_dict(),
            "reference": None if self.reference is None else self.reference.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "log_entropy_coef": self.log_entropy_coef.detach().clone(),
            "entropy_optimizer": None if self.entropy_optimizer is None else
            self.entropy_optimizer.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "counters": {"iteration": self.iteration, "states_seen": self.states_seen,
                         "actions_scored": self.actions_scored},
            "episodes": {"t": self.episodes.t, "steps": self.episodes.steps,
                         "holdings": self.episodes.holdings, "wealth": self.episodes.wealth,
                         "reward_state": self.episodes.reward_state},
            "torch_rng": self.generator.get_state(),
            "numpy_rng": _numpy_state(self.rng),
            "history": [{k: v for k, v in m.items() if k not in WALL_CLOCK}
                        for m in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
        if self.reference is not None:
            self.reference.load_state_dict(state["reference"])
        self.optimizer.load_state_dict(state["optimizer"])
        with torch.no_grad():
            self.log_entropy_coef.copy_(state["log_entropy_coef"])
        if self.entropy_optimizer is not None:
            self.entropy_optimizer.load_state_dict(state["entropy_optimizer"])
        self.normalizer.load_state_dict(state["normalizer"])
        counters = state["counters"]
        self.iteration = counters["iteration"]
        self.states_seen = counters["states_seen"]
        self.actions_scored = counters["actions_scored"]
        for name, value in state["episodes"].items():
            setattr(self.episodes, name, value.clone())
        self.generator.set_state(state["torch_rng"])
        self.rng = _numpy_generator(state["numpy_rng"])
        self.history = list(state["history"])


def update_metrics(stats: dict[str, list[float]], entropy_coef: float,
                   returns: torch.Tensor | None,
                   old_values: torch.Tensor | None) -> dict[str, float]:
    """An update's diagnostics: each minibatch statistic's mean, the entropy coefficient,
    and how much of the value targets' variance the critic explained (with a critic)."""
    metrics = {name: float(np.mean(v)) if v else float("nan") for name, v in stats.items()}
    metrics["entropy_coef"] = entropy_coef
    if returns is not None:
        variance = float(returns.var())
        metrics["explained_variance"] = float("nan") if variance == 0 else \
            1.0 - float((returns - old_values).var()) / variance
    return metrics


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's Inductor would use on CPU ($CXX, else g++), or
    None when it is not installed."""
    return shutil.which(os.environ.get("CXX", "g++"))


def weight_decay_groups(params: list[nn.Parameter], weight_decay: float) -> list[dict]:
    """Optimiser parameter groups that decay the weight matrices and not the biases or
    other vectors: those carry the state-independent part of a policy (on an i.i.d.
    market, all of it) and are left free."""
    return [{"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]


def _numpy_state(rng: np.random.Generator) -> dict:
    """The PCG64 state as tensors and strings, so that ``weights_only`` loading accepts it."""
    state = rng.bit_generator.state
    return {"state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def _numpy_generator(saved: dict) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"],
    }
    return rng
