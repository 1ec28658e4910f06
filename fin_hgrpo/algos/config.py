"""Agent hyperparameters: one typed object per algorithm, each field with its meaning.

Defaults follow CleanRL's continuous PPO where the portfolio setting does not argue
otherwise; the departures and their reasons:

- rollouts of 32 parallel episodes x 8 steps (256 states, not 2,048) in 4 minibatches,
  at learning rate 1e-3 (not 3e-4): market states are cheap to revisit and the signal
  in one day's reward is faint next to the market's noise, so many small updates learn
  more per state. On the tests' 3-asset i.i.d. market, at 20,000 states with CleanRL's
  batch and rate, none of the three beat 1/N on held-out days; with these settings
  GRPO and Hybrid GRPO got well over halfway to the optimum and PPO part of the way;
- rewards are normalised (daily log returns are ~1e-3);
- ``entropy_coef`` 0.001 instead of 0: a Dirichlet policy collapses onto a corner of
  the simplex quickly without it.

Both the annealed rate and the entropy bonus cost the last points of skill on long runs
towards an optimum in a corner of the simplex; there ``anneal_lr=False`` and
``entropy_coef=0`` do better (README, "Ten-year paths").
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fin_hgrpo.algos.bases import BaseKind
from fin_hgrpo.algos.normalization import Method, Scope
from fin_hgrpo.algos.policies import DistributionKind, Encoder
from fin_hgrpo.config import load_spec, validate_spec
from fin_hgrpo.errors import SpecError


class AgentConfig(BaseModel):
    """What every algorithm shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # networks
    encoder: Encoder = "mlp"  # mlp over the flat window, or conv over time per asset
    distribution: DistributionKind = "dirichlet"  # or logistic_normal, or tilt (of a base),
    # or two_books (a long-short book's long and short sides, softmax each)
    # a residual policy: the portfolio its zero tilt holds (distribution = "tilt")
    base: BaseKind | None = None  # equal_weight | inverse_volatility | min_variance | cash
    # | holdings
    tilt_scale: float = Field(default=0.02, gt=0)  # the tilt's initial standard deviation
    # trade this share of the way from the holdings to the policy's target each day
    # (1: all the way); below 1 the portfolio moves gradually and noise partly cancels
    trade_rate: float = Field(default=1.0, gt=0, le=1)
    hidden: int = Field(default=64, ge=1)  # width of the policy and value trunks
    # rollouts
    n_envs: int = Field(default=32, ge=1)  # parallel episodes
    n_steps: int = Field(default=8, ge=1)  # steps of each episode per iteration
    group_size: int = Field(default=1, ge=1)  # actions sampled and scored per state
    sub_steps: int = Field(default=1, ge=1)  # steps each sample is scored over (k)
    # the actions after a sample's first scored step: common (one noise draw a state,
    # shared by its samples: common random numbers, for Gaussian policies), sample
    # (independent draws), mean (the deterministic action); auto: common where the
    # policy is Gaussian (tilt, logistic_normal), else sample
    continuation: Literal["auto", "common", "sample", "mean"] = "auto"
    # what an episode moves on with: a scored sample (which one: ``selection``), or the
    # policy's deterministic target with the samples scored around it, as at test
    advance: Literal["sample", "mean"] = "sample"
    horizon: int = Field(default=252, ge=1)  # training episodes restart after this many days
    # optimisation
    learning_rate: float = Field(default=1e-3, gt=0)
    # AdamW's decoupled decay of the weight matrices (not biases): on short histories it
    # keeps the networks from memorising the training days' noise (see the README)
    weight_decay: float = Field(default=0.0, ge=0)
    # decay the holdings' input weights too (False: the policy may learn to hold still
    # as freely as a bias)
    holdings_decay: bool = True
    anneal_lr: bool = True  # linear decay to zero over the run
    epochs: int = Field(default=10, ge=1)
    minibatches: int = Field(default=4, ge=1)
    clip: float = Field(default=0.2, gt=0)  # ratio clip range
    max_grad_norm: float = Field(default=0.5, gt=0)
    gamma: float = Field(default=0.99, ge=0, le=1)
    # 0 is taken as 1e-8 (the coefficient lives in log space, where entropy_target tunes it)
    entropy_coef: float = Field(default=0.001, ge=0)
    entropy_target: float | None = None  # tune the entropy coefficient to keep this entropy
    normalize_advantages: bool = True
    target_kl: float | None = Field(default=None, gt=0)  # stop an update's epochs past this
    # adaptive reward normalisation
    reward_norm: Method = "welford"  # welford | ema | none
    reward_norm_scope: Scope = "batch"  # batch (running) | group (within each group)
    reward_clip: float = Field(default=5.0, gt=0)
    reward_ema_decay: float = Field(default=0.99, gt=0, lt=1)
    # run
    seed: int = 0
    device: str = "cpu"
    # torch.compile each minibatch's loss: fewer, fused kernels make small-batch updates
    # faster after a one-off compile (seconds); needs a C++ compiler on CPU
    compile: bool = False

    @model_validator(mode="after")
    def _tilt_has_base(self) -> AgentConfig:
        if (self.distribution == "tilt") != (self.base is not None):
            raise ValueError('a residual policy needs both distribution = "tilt" and a base '
                             f"(got distribution {self.distribution!r}, base {self.base!r})")
        if self.continuation == "common" and self.distribution == "dirichlet":
            raise ValueError('continuation = "common" draws one Gaussian noise a state: it '
                             'needs distribution = "tilt" or "logistic_normal"')
        return self

    @property
    def continues_with(self) -> str:
        """The continuation ``auto`` stands for with this policy."""
        if self.continuation != "auto":
            return self.continuation
        return "sample" if self.distribution == "dirichlet" else "common"

    @property
    def states_per_iteration(self) -> int:
        return self.n_envs * self.n_steps

    def iterations_for(self, total_states: int) -> int:
        """Iterations that visit at least ``total_states`` market states (at least one)."""
        return max(1, -(-total_states // self.states_per_iteration))


class PPOConfig(AgentConfig):
    """PPO: one action per state, GAE(lambda) from a learned V(s)."""

    algorithm: Literal["ppo"] = "ppo"
    group_size: Literal[1] = 1
    sub_steps: Literal[1] = 1
    reward_norm_scope: Literal["batch"] = "batch"  # one action a state: no group to scale
    advance: Literal["sample"] = "sample"  # GAE follows the path the samples make
    gae_lambda: float = Field(default=0.95, ge=0, le=1)
    value_coef: float = Field(default=0.5, ge=0)
    clip_value: bool = True


class GRPOConfig(AgentConfig):
    """DeepSeekMath's GRPO: G scored actions per state, group-standardised, no critic."""

    algorithm: Literal["grpo"] = "grpo"
    group_size: int = Field(default=8, ge=2)
    kl_coef: float = Field(default=0.04, ge=0)  # beta, on the k3 estimate of KL(pi || ref)
    ref_update_every: int = Field(default=10, ge=1)  # iterations between reference refreshes
    scale_rewards: bool = True  # divide by the group's std (TRL's scale_rewards)


class HybridGRPOConfig(AgentConfig):
    """Hybrid GRPO: G exactly scored actions per state plus a learned critic."""

    algorithm: Literal["hybrid_grpo"] = "hybrid_grpo"
    group_size: int = Field(default=8, ge=2)
    advantage: Literal["paper", "per_sample", "group_baseline",
                       "group_standardized"] = "per_sample"
    alpha: float | None = Field(default=None, ge=0, le=1)  # blend per_sample and paper
    reward_transform: Literal["normalize", "tanh", "identity"] = "normalize"
    tanh_scale: float = Field(default=0.01, gt=0)  # f(r) = tanh(r / scale) for "tanh"
    selection: Literal["random", "value"] = "random"  # which sample advances the episode
    value_coef: float = Field(default=0.5, ge=0)
    clip_value: bool = True


AnyAgentConfig = Annotated[PPOConfig | GRPOConfig | HybridGRPOConfig,
                           Field(discriminator="algorithm")]


class _AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    agent: AnyAgentConfig


def load_agent_config(path: str | Path) -> PPOConfig | GRPOConfig | HybridGRPOConfig:
    """An agent spec file: ``[agent]`` with ``algorithm = "ppo" | "grpo" | "hybrid_grpo"``."""
    return load_spec(path, _AgentSpec).agent


def agent_config(data: dict, source: str = "agent config"):
    """Validate a dict of agent hyperparameters (with ``algorithm``)."""
    return validate_spec({"agent": data}, _AgentSpec, source).agent


def configs_at(base: AgentConfig, points: list[dict], source: str,
               key: str = "space") -> list[AgentConfig]:
    """``base`` with each point's hyperparameters (a sweep's trials, a backtest's
    selection candidates), every one validated; a problem names ``source`` and
    ``<key>.<hyperparameter>``."""
    configs = []
    for point in points:
        unknown = [k for k in point if k not in type(base).model_fields]
        if unknown:
            raise SpecError(f"{source}: key {key}.{unknown[0]}: not a hyperparameter of "
                            f"{base.algorithm}")
        try:
            configs.append(validate_spec({**base.model_dump(), **point}, type(base), source))
        except SpecError as exc:
            raise SpecError(str(exc).replace(": key ", f": key {key}.", 1)) from None
    return configs
