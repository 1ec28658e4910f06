"""Populations: K agents of one algorithm trained together, one batched update at a time.

Honest results need many seeds, folds and hyperparameters; a population trains K agents
for the price of fewer. It keeps everything that makes an agent itself in the agent:
its simulator (its own training window), episodes, reward normaliser, NumPy and torch
random streams, counters and history; each member derives its own targets as it would
alone. The members collect their rollouts in lockstep (``algos.lockstep``: one batched
rollout, each member's random draws its own), and the update is batched: each trained
tensor is stacked over the members, (K, *shape), and each minibatch
is one forward (``torch.func.vmap`` of ``functional_call`` of the algorithm's own loss),
one backward, gradient clipping per member (never across members) and one step of
torch's fused AdamW over the members' slices (a parameter group, so a learning rate and
weight decay, per member).

After every iteration the members' networks, optimiser states and entropy coefficients
are written back into the agents, so an agent of a population is an ordinary agent:
``predict``, ``state_dict`` and resuming alone behave as if it had been trained alone.
Batched kernels add up in another order than unbatched ones, so a member agrees with
the same agent trained alone to about 1e-7 after one update (1e-4 is tested); RL
amplifies such differences, and over a long run the two drift apart as two CPUs' runs
do. A population of one trains as its agent does alone, bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from fin_hgrpo.algos.core import Agent, weight_decay_groups
from fin_hgrpo.algos.lockstep import Lockstep
from fin_hgrpo.algos.losses import STATS, update_epochs, update_metrics
from fin_hgrpo.algos.rollout import Rollout, Targets, UpdateBatch
from fin_hgrpo.algos.stacking import member_layout, stacked
from fin_hgrpo.errors import FinHgrpoError

MEMBER_FIELDS = frozenset({"seed", "learning_rate", "weight_decay", "entropy_coef"})
_ENTROPY_LR = 1e-3  # the single agent's Adam on its log entropy coefficient

# told each member's diagnostics after an iteration ({member: metrics}); returns the
# members to stop (the others go on), or None
Callback = Callable[[dict[int, dict[str, float]]], Collection[int] | None]


class Population:
    """K agents (``members``) of one algorithm and one architecture, trained as one.

    Members may differ in ``seed``, ``learning_rate``, ``weight_decay`` and
    ``entropy_coef`` and in their simulators (training windows of one shape); nothing
    else. ``errors[k]`` holds the error of a member whose update diverged: it stops
    there, with the parameters it had, and the others go on.
    """

    def __init__(self, members: Sequence[Agent]) -> None:
        if not members:
            raise ValueError("a population needs at least one member")
        _check_alike(members)
        self.members = list(members)
        self.device = members[0].device
        self.errors: list[FinHgrpoError | None] = [None] * len(members)
        first = members[0]
        if len(members) == 1:
            return  # a population of one is its agent: nothing to batch (see train_iteration)
        self._networks = _Losses(first)
        self._names = _names(first)
        # one stacked leaf (K, *shape) per trained tensor, in trained_parameters order,
        # matrices laid out (K, in, out) (algos.stacking)
        self.params = [stacked([p.detach() for p in tensors]).requires_grad_(True)
                       for tensors in zip(*(m.trained_parameters for m in members), strict=True)]
        # member k's slices of the stacks, as leaves sharing their storage: torch's own
        # AdamW then steps every member in one fused call, with a rate and decay each
        self._views = [[p.detach()[k] for p in self.params] for k in range(len(members))]
        groups = [{**group, "lr": member.config.learning_rate}
                  for member, views in zip(members, self._views, strict=True)
                  for group in weight_decay_groups(views, member.config.weight_decay,
                                                   member.decayed())]
        fused = _fused_supported(self.device)
        self.optimizer = torch.optim.AdamW(groups, eps=1e-5, fused=fused,
                                           foreach=None if fused else True)
        self.log_entropy_coef = torch.stack([m.log_entropy_coef.detach() for m in members])
        self.entropy_optimizer = None
        if first.config.entropy_target is not None:
            self.entropy_optimizer = torch.optim.Adam(
                [{"params": [self.log_entropy_coef[k]]} for k in range(len(members))],
                lr=_ENTROPY_LR, fused=True)  # on the CPU, as each agent's coefficient
        for k, member in enumerate(members):
            self._import_optimizer_state(k, member)
        self._loss = vmap(self._member_loss)
        if first.config.compile:  # the members checked for a C++ compiler when built
            self._loss = torch.compile(self._loss)

    def __len__(self) -> int:
        return len(self.members)

    # ---- training -----------------------------------------------------------------------
    def learn(self, total_states: int, callback: Callback | None = None) -> Population:
        """Train every member until it has visited ``total_states`` market states.

        ``callback({k: metrics})`` runs after each iteration with the diagnostics of the
        members it updated, all at once (to judge them together); it returns the members
        to stop, or None.
        """
        total = self.members[0].iterations_for(total_states)
        stopped: set[int] = set()
        while True:
            active = [k for k, m in enumerate(self.members)
                      if m.iteration < total and k not in stopped and self.errors[k] is None]
            if not active:
                return self
            metrics = self.train_iteration(active, total)
            if callback is not None:
                stopped |= set(callback(metrics) or ())

    def train_iteration(self, active: Sequence[int],
                        total_iterations: int | None = None) -> dict[int, dict[str, float]]:
        """One iteration of the ``active`` members: each collects and derives its targets,
        then one batched update; returns each member's diagnostics (a member that
        diverged in it is left out)."""
        if len(self) == 1:
            return self._train_alone(total_iterations)
        start = time.perf_counter()
        if total_iterations is not None:
            for k in active:
                for group in self._groups(k):
                    group["lr"] = self.members[k].scheduled_lr(total_iterations)
        rollouts = Lockstep([self.members[k] for k in active]).collect()
        prepared = {k: self.members[k].prepare_update(rollout)
                    for k, rollout in zip(active, rollouts, strict=True)}
        metrics = self._update(prepared)
        self._write_back(list(prepared))
        elapsed = time.perf_counter() - start
        done = {}
        for k, (rollout, targets) in prepared.items():
            if self.errors[k] is None:
                done[k] = self.members[k].finish_iteration(rollout, targets, metrics[k],
                                                           elapsed)
        return done

    def _train_alone(self, total_iterations: int | None) -> dict[int, dict[str, float]]:
        """A population of one trains as its agent alone does (batching one member only
        costs vmap's overhead), bit for bit."""
        agent = self.members[0]
        if total_iterations is not None:
            for group in agent.optimizer.param_groups:
                group["lr"] = agent.scheduled_lr(total_iterations)
        try:
            return {0: agent.train_iteration()}
        except FinHgrpoError as error:
            self.errors[0] = error
            return {}

    def _update(self, prepared: dict[int, tuple[Rollout, Targets]]) -> dict[int, dict]:
        """Epochs of minibatch steps, each one batched step of every member still going."""
        batch = _Batch(self.members, prepared, len(self))
        reference = self._reference_rows()

        def step(rows: torch.Tensor, updating: list[bool]) -> dict[str, list[float]]:
            coef = self.log_entropy_coef.exp().detach().to(self.device)
            out = self._loss(tuple(self.params), reference,
                             *(_member_rows(x, rows) for x in batch.tensors), coef)
            for param in self.params:
                param.grad = None
            out["loss"].sum().backward()
            self._clip_and_step(out, updating)
            recorded = [name for name in STATS if name in out]
            values = torch.stack([out[name].detach() for name in recorded]).tolist()
            return dict(zip(recorded, values, strict=True))

        updating = [k in prepared for k in range(len(self))]  # members still stepping
        stats = update_epochs(self.members[0].config, batch.n_states,
                              [member.rng for member in self.members], updating, step,
                              self.device)
        return {k: self._metrics(k, stats[k], batch) for k in prepared}

    def _clip_and_step(self, out: dict[str, torch.Tensor], updating: list[bool]) -> None:
        """Clip each member's gradient by its own norm and step the members still going;
        a member with non-finite gradients is stopped with its error, not updated."""
        cfg = self.members[0].config
        grads = [param.grad for param in self.params]
        norms = torch.stack([g.reshape(len(self), -1).norm(dim=1) for g in grads]).norm(dim=0)
        for k, finite in enumerate(torch.isfinite(norms).tolist()):
            if updating[k] and not finite:
                self.errors[k] = self.members[k].divergence(float(out["entropy"][k]))
                updating[k] = False
        scale = (cfg.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for grad in grads:
            grad.mul_(scale.view(-1, *([1] * (grad.dim() - 1))))
        for k, views in enumerate(self._views):  # no gradient: torch's AdamW skips it
            for view, grad in zip(views, grads, strict=True):
                view.grad = grad[k] if updating[k] else None
        self.optimizer.step()
        if self.entropy_optimizer is not None:  # SAC-style, as the single agent tunes it
            # the coefficients live on the CPU, as each agent's does
            entropy_grad = out["entropy"].detach().cpu() - cfg.entropy_target
            for k, group in enumerate(self.entropy_optimizer.param_groups):
                group["params"][0].grad = entropy_grad[k] if updating[k] else None
            self.entropy_optimizer.step()

    def _metrics(self, k: int, stats: dict[str, list[float]], batch: _Batch) -> dict:
        return update_metrics(stats, float(self.log_entropy_coef[k].exp()), *batch.returns_of(k))

    def _member_loss(self, params, reference, features, holdings, actions, old_log_probs,
                     advantages, returns, old_values, entropy_coef):
        """One member's minibatch loss, through the algorithm's own ``loss``."""
        named = {name: member_layout(param)
                 for name, param in zip(self._names, params, strict=True)}
        named |= dict(zip(self._reference_names, reference, strict=True))
        has_critic = self.members[0].value is not None
        return functional_call(self._networks, named, (
            features, holdings, actions, old_log_probs, advantages,
            returns if has_critic else None, old_values if has_critic else None,
            entropy_coef), tie_weights=False)  # no tied weights: skip the search

    # ---- state shared with the agents ---------------------------------------------------
    @property
    def _reference_names(self) -> list[str]:
        reference = self.members[0].reference
        return [] if reference is None else \
            [f"reference.{name}" for name, _ in reference.named_parameters()]

    def _reference_rows(self) -> tuple[torch.Tensor, ...]:
        """The members' reference policies (GRPO), stacked; none for other algorithms."""
        if self.members[0].reference is None:
            return ()
        return tuple(torch.stack([p.detach() for p in tensors]) for tensors in
                     zip(*(m.reference.parameters() for m in self.members), strict=True))

    @torch.no_grad()
    def _write_back(self, members: list[int]) -> None:
        """Members' networks, entropy coefficients and optimiser states from the stacks."""
        for k in members:
            member = self.members[k]
            for param, stack in zip(member.trained_parameters, self.params, strict=True):
                param.copy_(member_layout(stack[k]))
            member.log_entropy_coef.copy_(self.log_entropy_coef[k])
            self._export_optimizer_state(k, member)

    def _groups(self, k: int) -> list[dict]:
        """Member k's parameter groups (weight matrices, then the rest)."""
        return self.optimizer.param_groups[2 * k:2 * k + 2]

    def _export_optimizer_state(self, k: int, member: Agent) -> None:
        for ours, theirs in zip(self._groups(k), member.optimizer.param_groups, strict=True):
            theirs["lr"] = ours["lr"]
        for param, view in zip(member.trained_parameters, self._views[k], strict=True):
            if view in self.optimizer.state:
                member.optimizer.state[param] = _copied(self.optimizer.state[view])
        if self.entropy_optimizer is not None:
            coef = self.entropy_optimizer.param_groups[k]["params"][0]
            if coef in self.entropy_optimizer.state:
                member.entropy_optimizer.state[member.log_entropy_coef] = \
                    _copied(self.entropy_optimizer.state[coef])

    def _import_optimizer_state(self, k: int, member: Agent) -> None:
        for ours, theirs in zip(self._groups(k), member.optimizer.param_groups, strict=True):
            ours["lr"] = theirs["lr"]
        for param, view in zip(member.trained_parameters, self._views[k], strict=True):
            if param in member.optimizer.state:
                self.optimizer.state[view] = _copied(member.optimizer.state[param])
        if self.entropy_optimizer is not None and \
                member.log_entropy_coef in member.entropy_optimizer.state:
            coef = self.entropy_optimizer.param_groups[k]["params"][0]
            self.entropy_optimizer.state[coef] = \
                _copied(member.entropy_optimizer.state[member.log_entropy_coef])


class _Losses(nn.Module):
    """The networks an algorithm's loss reads, as one module for ``functional_call``:
    its forward is the agent's own ``loss``, run on whatever parameters are swapped
    in (one member's, under vmap)."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.policy = agent.policy
        if agent.value is not None:
            self.value = agent.value
        if agent.reference is not None:
            self.reference = agent.reference
        self._agent = [agent]  # not a submodule: its parameters are the ones swapped

    def forward(self, *batch) -> dict[str, torch.Tensor]:
        return self._agent[0].loss(*batch)


def _member_rows(stacked: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Member k's ``rows[k]`` of ``stacked`` (K, S, ...): (K, m, ...). One gather of
    whole rows from the flattened stack (a copy of contiguous rows), where indexing
    with a pair of index tensors gathers element by element, several times slower."""
    members, states = stacked.shape[:2]
    offsets = torch.arange(members, device=rows.device)[:, None] * states
    picked = stacked.reshape(members * states, *stacked.shape[2:]).index_select(
        0, (rows + offsets).reshape(-1))
    return picked.reshape(members, rows.shape[1], *stacked.shape[2:])


class _Batch:
    """The members' rollouts as stacked ``UpdateBatch`` fields, (K, S, ...); a member not
    updated in this iteration takes another's data (its loss is computed and ignored),
    and an algorithm without a critic gets zeros for the value targets."""

    def __init__(self, members: list[Agent], prepared: dict[int, tuple[Rollout, Targets]],
                 size: int) -> None:
        rows = {}
        for k, (rollout, targets) in prepared.items():
            batch = UpdateBatch.of(members[k].sim, rollout, targets)
            missing = torch.zeros(len(batch.features), device=batch.features.device)
            rows[k] = batch._replace(
                returns=missing if batch.returns is None else batch.returns,
                old_values=missing if batch.old_values is None else batch.old_values)
        stand_in = rows[next(iter(rows))]
        self.tensors = UpdateBatch(*(torch.stack([rows.get(k, stand_in)[i] for k in range(size)])
                                     for i in range(len(stand_in))))
        self.n_states = len(stand_in.features)
        self._has_returns = next(iter(prepared.values()))[1].returns is not None

    def returns_of(self, k: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not self._has_returns:
            return None, None
        return self.tensors.returns[k], self.tensors.old_values[k]


def _copied(state: dict) -> dict:
    """An optimiser state copied, each per-element tensor laid out as the other side
    of a stack lays out its parameter (``member_layout``; scalars, like Adam's step,
    as they are)."""
    return {name: (member_layout(value).clone(memory_format=torch.contiguous_format)
                   if isinstance(value, torch.Tensor) else value)
            for name, value in state.items()}


def _fused_supported(device: torch.device) -> bool:
    """torch's fused AdamW runs on CPUs and CUDA; elsewhere the foreach one does."""
    return device.type in ("cpu", "cuda")


def _names(agent: Agent) -> list[str]:
    """Names of the trained parameters inside ``_Losses``, in ``trained_parameters`` order."""
    names = [f"policy.{name}" for name, _ in agent.policy.named_parameters()]
    if agent.value is not None:
        names += [f"value.{name}" for name, _ in agent.value.named_parameters()]
    return names


def _check_alike(members: Sequence[Agent]) -> None:
    first = members[0]
    shape = (first.sim.window, first.sim.n_assets, first.sim.n_features)
    for k, member in enumerate(members[1:], start=1):
        if type(member) is not type(first):
            raise ValueError(f"a population holds agents of one algorithm: member {k} is "
                             f"{type(member).__name__}, member 0 {type(first).__name__}")
        differ = [name for name in type(first.config).model_fields
                  if name not in MEMBER_FIELDS
                  and getattr(member.config, name) != getattr(first.config, name)]
        if differ:
            raise ValueError(f"member {k} differs from member 0 in {', '.join(differ)}: "
                             f"members may differ only in {', '.join(sorted(MEMBER_FIELDS))}")
        other = (member.sim.window, member.sim.n_assets, member.sim.n_features)
        if other != shape:
            raise ValueError(f"member {k} observes (window, assets, features) {other}, "
                             f"member 0 {shape}")
