"""The trainer core PPO, GRPO and Hybrid GRPO share.

An iteration collects a rollout (``algos.rollout``), the algorithm turns it into
advantages (and value targets), and every sample gets the clipped-ratio update over
epochs of shuffled minibatches (``algos.losses``). An algorithm is a subclass that
supplies ``targets``; each registers itself under its config's ``algorithm`` name.
"""

from __future__ import annotations

import os
import shutil
import time
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
import torch
from torch import nn

from fin_hgrpo.algos import checkpoint
from fin_hgrpo.algos.acting import Actor
from fin_hgrpo.algos.config import AgentConfig, agent_config
from fin_hgrpo.algos.losses import (
    STATS,
    clipped_policy_loss,
    normalized,
    ratio_diagnostics,
    reference_kl,
    update_epochs,
    update_metrics,
    value_loss,
)
from fin_hgrpo.algos.normalization import RewardNormalizer
from fin_hgrpo.algos.rollout import Rollout, Targets, UpdateBatch, collect, discounted
from fin_hgrpo.envs import Episodes, PortfolioSim, Reward
from fin_hgrpo.errors import FinHgrpoError, SpecError

WALL_CLOCK = ("states_per_second",)  # metrics kept out of checkpoints: they vary by run
_TRAINING_STATE = ("reference", "optimizer", "log_entropy_coef", "entropy_optimizer",
                   "normalizer", "counters", "episodes", "torch_rng", "numpy_rng", "history")


class Agent(Actor):
    """Base of PPO, GRPO and Hybrid GRPO; subclasses supply ``targets`` (and flags).

    ``learn`` trains, ``predict``/``act`` give deterministic weights. ``save`` writes
    the agent to a file (with ``training_state``, everything a resumed run needs:
    optimisers, normaliser, counters, episode and RNG states) and ``Agent.load`` reads
    one back, as the algorithm it was.
    """

    algorithms: ClassVar[dict[str, type[Agent]]] = {}  # every algorithm, by config name

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.config_class.model_fields.get("algorithm")
        if name is not None:
            Agent.algorithms[name.default] = cls

    def __init__(self, sim: PortfolioSim, config: AgentConfig | None = None,
                 reward: Reward | None = None) -> None:
        super().__init__(sim, config)
        cfg = self.config
        self.reward = reward or Reward()
        self.rng = np.random.default_rng(cfg.seed)
        # foreach: one fused kernel per step over all parameters (CPU defaults to a loop)
        self.optimizer = torch.optim.AdamW(weight_decay_groups(self.trained_parameters,
                                                               cfg.weight_decay, self.decayed()),
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
        """``loss``, through torch.compile when the config asks (on CPU, Inductor builds
        C++ kernels)."""
        if not self.config.compile:
            return self.loss
        if self.device.type == "cpu" and cpp_compiler() is None:
            raise FinHgrpoError(f"compile = true needs a C++ compiler on CPU: "
                                f"{os.environ.get('CXX', 'g++')!r} was not found "
                                "(install one or set CXX)")
        return torch.compile(self.loss)

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

    def select(self, rewards: torch.Tensor, ahead: dict[str, torch.Tensor]) -> torch.Tensor:
        """Which sample advances each episode: uniformly at random by default."""
        n, g = rewards.shape
        return torch.as_tensor(self.rng.integers(0, g, n), device=rewards.device)

    # ---- helpers for targets -----------------------------------------------------------
    def collect(self) -> Rollout:
        """One iteration's rollout, counted in states seen and actions scored."""
        cfg = self.config
        return self.collected(collect(self, self.episodes, self.select, cfg.n_steps,
                                      cfg.group_size, cfg.sub_steps, self.rng, cfg.advance))

    def collected(self, rollout: Rollout) -> Rollout:
        """A rollout of this agent's (collected by it, or with others in lockstep),
        counted in states seen and actions scored."""
        cfg = self.config
        self.states_seen += cfg.n_steps * cfg.n_envs
        self.actions_scored += cfg.n_steps * cfg.n_envs * cfg.group_size * cfg.sub_steps
        return rollout

    def transformed(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards after adaptive normalisation (statistics updated by ``learn``)."""
        return self.normalizer(rewards)

    def discounted(self, rewards: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """sum_j gamma^j r_j over the last axis (the k scored steps)."""
        return discounted(rewards, alive, self.config.gamma)

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
        metrics = self._update(UpdateBatch.of(self.sim, rollout, targets))
        return self.finish_iteration(rollout, targets, metrics, time.perf_counter() - start)

    def prepare_update(self, rollout: Rollout | None = None) -> tuple[Rollout, Targets]:
        """An iteration up to its update: collect (unless given the ``rollout``
        collected), fold the rewards into the normaliser, refresh the reference policy
        when due, derive the targets."""
        rollout = self.collect() if rollout is None else rollout
        self.normalizer.update(rollout.rewards[rollout.alive])
        if self.reference is not None and self.iteration % self.config.ref_update_every == 0:
            self.reference.load_state_dict(self.policy.state_dict())
        return rollout, self.targets(rollout)

    def finish_iteration(self, rollout: Rollout, targets: Targets, metrics: dict[str, float],
                         elapsed: float) -> dict[str, float]:
        """Count the iteration and record its diagnostics after the update."""
        self.iteration += 1
        metrics.update(targets.diagnostics)
        metrics.update(
            iteration=self.iteration, states=self.states_seen, actions_scored=self.actions_scored,
            mean_reward=float(rollout.rewards[..., 0].mean()),
            mean_log_growth=float(rollout.log_growth.mean()),
            lr=self.optimizer.param_groups[0]["lr"],
            states_per_second=self.config.states_per_iteration / elapsed,
        )
        self.history.append(metrics)
        return metrics

    def _update(self, batch: UpdateBatch) -> dict[str, float]:
        """Epochs of minibatch steps of this agent's own optimisers."""
        cfg = self.config

        def step(rows: torch.Tensor, updating: list[bool]) -> dict[str, list[float]]:
            out = self._loss_fn(*batch.rows(rows[0]), self.log_entropy_coef.exp().detach())
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
            return {name: [out[name].item()] for name in STATS if name in out}

        [stats] = update_epochs(cfg, len(batch.features), [self.rng], [True], step,
                                self.device)
        return update_metrics(stats, float(self.log_entropy_coef.detach().exp()),
                              batch.returns, batch.old_values)

    def divergence(self, entropy: float) -> FinHgrpoError:
        """The error of an update whose gradients were not finite (it is not applied)."""
        return FinHgrpoError(
            f"{type(self).__name__} (seed {self.config.seed}) diverged in iteration "
            f"{self.iteration + 1}: non-finite gradients (policy entropy {entropy:.4g}); "
            "the update was not applied. A policy collapsed onto a corner is the usual "
            "cause: a larger entropy_coef or a smaller learning_rate keeps it stable")

    def loss(self, features: torch.Tensor, holdings: torch.Tensor, actions: torch.Tensor,
             old_log_probs: torch.Tensor, advantages: torch.Tensor,
             returns: torch.Tensor | None, old_values: torch.Tensor | None,
             entropy_coef: torch.Tensor) -> dict[str, torch.Tensor]:
        """One minibatch's loss and its diagnostics (``compile`` compiles this; a
        population runs it on each member's parameters)."""
        cfg = self.config
        dist = self.policy(features, holdings)
        log_probs = self.log_prob(dist, actions)
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        adv = normalized(advantages) if cfg.normalize_advantages else advantages
        policy_loss = clipped_policy_loss(ratio, adv, cfg.clip)
        entropy = dist.entropy().mean()
        out = {"policy_loss": policy_loss.detach(), "entropy": entropy.detach()}
        loss = policy_loss - entropy_coef * entropy
        if self.value is not None:
            clip = cfg.clip if cfg.clip_value else None
            critic_loss = value_loss(self.value(features, holdings), returns, old_values, clip)
            loss = loss + cfg.value_coef * critic_loss
            out["value_loss"] = critic_loss.detach()
        if self.reference is not None:
            with torch.no_grad():
                reference_log_probs = self.log_prob(self.reference(features, holdings),
                                                    actions)
            ref_kl = reference_kl(log_probs, reference_log_probs)
            loss = loss + cfg.kl_coef * ref_kl
            out["ref_kl"] = ref_kl.detach()
        out |= ratio_diagnostics(ratio, log_ratio, cfg.clip)
        out["loss"] = loss
        return out

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
            "numpy_rng": checkpoint.numpy_state(self.rng),
            "history": [{k: v for k, v in m.items() if k not in WALL_CLOCK}
                        for m in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        """A ``state_dict`` back into this agent; one without the training state (a
        deployed agent's) sets the networks only."""
        self.load_networks(state)
        if "optimizer" not in state:
            return
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
        self.rng = checkpoint.numpy_generator(state["numpy_rng"])
        self.history = list(state["history"])

    def save(self, target: str | Path | BinaryIO, *, training_state: bool = False) -> None:
        """The agent as a file (written atomically) or into a binary stream: its config
        and networks, and with ``training_state`` all a resumed run needs."""
        state = self.state_dict()
        if not training_state:
            state = {k: v for k, v in state.items() if k not in _TRAINING_STATE}
        checkpoint.write_state(state, target)

    @classmethod
    def load(cls, source: str | Path | BinaryIO, sim: PortfolioSim,
             reward: Reward | None = None) -> Agent:
        """The agent a ``save`` wrote, as its own algorithm, on ``sim`` (its device is
        the agent's)."""
        state = checkpoint.read_state(source, sim.device)
        name = source if isinstance(source, str | Path) else "agent state"
        config = agent_config({**state["config"], "device": sim.device.type}, str(name))
        agent = Agent.algorithms[config.algorithm](sim, config, reward)
        try:
            agent.load_state_dict(state)
        except (KeyError, RuntimeError, ValueError) as error:  # another version's agent
            raise SpecError(f"{name}: does not fit the agent its config describes "
                            f"({error}); train it again") from error
        return agent


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's Inductor would use on CPU ($CXX, else g++), or
    None when it is not installed."""
    return shutil.which(os.environ.get("CXX", "g++"))


def weight_decay_groups(params: list[nn.Parameter], weight_decay: float,
                        decayed: list[bool] | None = None) -> list[dict]:
    """Optimiser parameter groups: the ``decayed`` ones (by default the weight matrices)
    and the rest, left free (biases and other vectors carry the state-independent part
    of a policy: on an i.i.d. market, all of it)."""
    flags = decayed if decayed is not None else [p.dim() > 1 for p in params]
    return [{"params": [p for p, d in zip(params, flags, strict=True) if d],
             "weight_decay": weight_decay},
            {"params": [p for p, d in zip(params, flags, strict=True) if not d],
             "weight_decay": 0.0}]
