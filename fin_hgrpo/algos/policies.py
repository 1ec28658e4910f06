"""Policies over the simplex and value networks, reading (feature window, holdings).

Encoders: ``mlp`` flattens the window; ``conv`` runs a 1-D convolution over time for
every asset (weights shared across assets), pools it, and flattens the per-asset
summaries. Either feeds an MLP trunk, with the current holdings appended. ``shared``
is one small network for every asset, as in the EIIE family of portfolio policies:
each asset's window gives an embedding, and each asset's score comes from its own
embedding plus a multiple of the weight it holds (cash's from the mean embedding and
the cash held). Its parameters do not depend on the number of assets (an asset that
is not listed reads zeros and its tradable flag like any other), and a day's assets
are encoded once for all the portfolios read on it: holdings enter after the
encoding, linearly in the policy and through one layer in the critic.

Distributions (log-probabilities and entropies exact for the distribution sampled):

- ``dirichlet``: the action is the weight vector itself, w ~ Dirichlet(alpha),
  alpha = softplus(head) + alpha_min; the deterministic action is the mean.
- ``logistic_normal``: the action is a vector z of A additive logits,
  z ~ N(mu, diag(sigma^2)), and the weights are softmax([z, 0]) (cash is the reference
  category). Log-probabilities and entropy are those of z; the Jacobian to w is the
  same under every policy, so it cancels in probability ratios. The deterministic
  action is mu.
- ``tilt``: a residual policy around a base portfolio b (equal weights, inverse
  volatility, minimum variance, or the holdings): the action is a tilt z of A+1 values,
  z ~ N(mu, diag(sigma^2)), and the weights are the Euclidean projection of b + z onto
  the simplex. mu and sigma are the network's outputs times ``tilt_scale`` (so that
  learning rates mean what they mean for logits), sigma starting at ``tilt_scale``.
  mu starts at exactly zero, so the untrained policy's deterministic action is the base
  itself; with the holdings as base a zero tilt holds still. On a long-short book the
  weights are b + z itself, signed, projected onto the book's limits instead.
- ``two_books`` (long-short books only): the action is 2A logits z ~ N(mu, diag(sigma^2)),
  a long book's and a short book's, and the weights are L softmax(z_long) - S
  softmax(z_short), L and S the book's long and short sides (1.3 and 0.3 for 130/30,
  AlphaStock's two books), projected onto its limits. mu starts at zero: every asset
  (L - S) / A, each side spread evenly.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.distributions import Dirichlet, Distribution, Independent, Normal

from fin_hgrpo.envs.book import with_cash
from fin_hgrpo.envs.sim import project_simplex

Encoder = Literal["mlp", "conv", "shared"]
DistributionKind = Literal["dirichlet", "logistic_normal", "tilt", "two_books"]
_ALPHA_MIN = 1e-3
_LOG_STD_BOUNDS = (-5.0, 2.0)


class ObservationEncoder(nn.Module):
    """(B, window, A, F) features and (B, A+1) holdings -> (B, hidden).

    Holdings may carry a group axis, (B, G, A+1) -> (B, G, hidden): G portfolios on the
    same day. The first layer is linear in [features; holdings], so the features are
    encoded once per day and each portfolio only adds its holdings term.
    """

    def __init__(self, window: int, n_assets: int, n_features: int, hidden: int,
                 kind: Encoder = "mlp", channels: int = 16) -> None:
        super().__init__()
        self.kind = kind
        if kind == "conv":
            kernel = min(3, window)
            self.temporal = nn.Sequential(nn.Conv1d(n_features, channels, kernel), nn.ReLU())
            flat = n_assets * channels
        elif kind == "mlp":
            flat = window * n_assets * n_features
        else:
            raise ValueError(f"encoder must be 'mlp', 'conv' or 'shared', got {kind!r}")
        self.features_in = nn.Linear(flat, hidden)
        self.holdings_in = nn.Linear(n_assets + 1, hidden, bias=False)
        self.trunk = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())

    def forward(self, features: torch.Tensor, holdings: torch.Tensor) -> torch.Tensor:
        batch, window, assets, n_features = features.shape
        if self.kind == "conv":
            series = features.permute(0, 2, 3, 1).reshape(batch * assets, n_features, window)
            summary = self.temporal(series).mean(-1).reshape(batch, -1)
        else:
            summary = features.reshape(batch, -1)
        encoded = self.features_in(summary)
        if holdings.dim() == 3:
            encoded = encoded[:, None, :]
        return self.trunk(encoded + self.holdings_in(holdings))


class AssetEncoder(nn.Module):
    """One network for every asset: (B, window, A, F) features -> per asset (B, A, hidden)
    and pooled over the assets (B, hidden).

    Each asset's flattened window goes through the same two layers; the mean of the
    embeddings is a context every head may read. Holdings are not an input here: the
    heads add them after the encoding, so a day's features are encoded once, however
    many portfolios (a group's scored samples) are read on that day.
    """

    def __init__(self, window: int, n_features: int, hidden: int) -> None:
        super().__init__()
        self.features_in = nn.Linear(window * n_features, hidden)
        self.trunk = nn.Sequential(nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, window, assets, n_features = features.shape
        per_asset = self.trunk(self.features_in(
            features.transpose(1, 2).reshape(batch, assets, window * n_features)))
        return per_asset, per_asset.mean(-2)


class AssetHead(nn.Module):
    """A score per asset from its embedding (weights shared across assets) plus a
    multiple of the weight it holds, and, with ``cash``, a score for cash from the
    pooled embedding and the cash held: (B, [G,] A [+1]) for holdings (B, [G,] A+1).
    The holdings enter linearly after the encoding: G portfolios on one day cost an
    addition each, not a network each."""

    def __init__(self, hidden: int, cash: bool) -> None:
        super().__init__()
        self.asset = nn.Linear(hidden, 1)
        self.cash = nn.Linear(hidden, 1) if cash else None
        self.holdings_in = nn.Linear(1, 1 + cash, bias=False)  # per unit held: assets, cash

    def forward(self, encoded: tuple[torch.Tensor, torch.Tensor],
                holdings: torch.Tensor) -> torch.Tensor:
        per_asset, pooled = encoded
        assets = per_asset.shape[-2]
        scores = self.asset(per_asset).squeeze(-1)  # (B, A)
        if self.cash is not None:
            scores = torch.cat([scores, self.cash(pooled)], -1)
        if holdings.dim() == 3:  # G portfolios a day
            scores = scores[:, None]
        per_unit = self.holdings_in.weight[:, 0]
        if self.cash is None:
            return scores + per_unit * holdings[..., :assets]
        return scores + torch.cat([per_unit[:1].expand(assets), per_unit[1:]]) * holdings

    def starting_at(self, bias: float) -> AssetHead:
        """Zero weights and the given bias: every state starts with the same output."""
        for layer in (self.asset, self.cash):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.constant_(layer.bias, bias)
        nn.init.zeros_(self.holdings_in.weight)
        return self


class Policy(nn.Module):
    """pi(action | features, holdings) over portfolio weights."""

    def __init__(self, window: int, n_assets: int, n_features: int, *, hidden: int = 64,
                 encoder: Encoder = "mlp", distribution: DistributionKind = "dirichlet",
                 tilt_scale: float = 0.02, sides: tuple[float, float] | None = None) -> None:
        super().__init__()
        if distribution not in ("dirichlet", "logistic_normal", "tilt", "two_books"):
            raise ValueError(f"distribution must be 'dirichlet', 'logistic_normal', 'tilt' "
                             f"or 'two_books', got {distribution!r}")
        if (distribution == "two_books") != (sides is not None):
            raise ValueError("two books need the long and short sides of a long-short book")
        if distribution == "two_books" and encoder == "shared":
            raise ValueError("two books read 2 logits an asset: use encoder 'mlp' or 'conv'")
        self.distribution, self.sides = distribution, sides
        self.shared = encoder == "shared"
        has_cash = distribution != "logistic_normal"  # there cash is the reference
        # the outputs: one an asset (and cash), two an asset for two books
        outputs = 2 * n_assets if distribution == "two_books" else n_assets + has_cash
        bias = 1.0 if distribution == "dirichlet" else 0.0  # alpha ~ 1.3: broad at first
        if self.shared:
            self.encoder = AssetEncoder(window, n_features, hidden)
            self.head = AssetHead(hidden, has_cash).starting_at(bias)
        else:
            self.encoder = ObservationEncoder(window, n_assets, n_features, hidden, encoder)
            self.head = nn.Linear(hidden, outputs)
            nn.init.zeros_(self.head.weight)
            nn.init.constant_(self.head.bias, bias)
        if distribution != "dirichlet":
            # one deviation per output; shared across the assets with a shared encoder
            sizes = (1 + has_cash) if self.shared else outputs
            self.log_std = nn.Parameter(torch.zeros(sizes))
        self.scale = tilt_scale if distribution == "tilt" else 1.0

    def forward(self, features: torch.Tensor, holdings: torch.Tensor,
                temperature: float = 1.0) -> Distribution:
        """The action distribution; ``temperature`` > 1 flattens it (for sampling)."""
        return self.distribution_of(*self.distribution_parameters(features, holdings,
                                                                  temperature))

    def distribution_parameters(self, features: torch.Tensor, holdings: torch.Tensor,
                                temperature: float = 1.0) -> tuple[torch.Tensor, ...]:
        """The tensors the action distribution is made of: (alpha,) of a Dirichlet,
        (mu, sigma) of a normal. What a batched forward of many members' networks
        returns (``torch.func.vmap`` maps tensors, not distributions)."""
        out = self.head(self.encoder(features), holdings) if self.shared else \
            self.head(self.encoder(features, holdings))
        if self.distribution == "dirichlet":
            return ((nn.functional.softplus(out) + _ALPHA_MIN) / temperature,)
        std = self._log_std(out.shape[-1]).clamp(*_LOG_STD_BOUNDS).exp() * \
            (temperature * self.scale)
        return out * self.scale, std.expand_as(out)

    def distribution_of(self, *parameters: torch.Tensor) -> Distribution:
        """The action distribution of ``distribution_parameters``' tensors."""
        if self.distribution == "dirichlet":
            return Dirichlet(parameters[0], validate_args=False)
        loc, scale = parameters
        return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)

    def _log_std(self, size: int) -> torch.Tensor:
        """The log deviation of each of ``size`` outputs."""
        if not self.shared:
            return self.log_std
        assets = size - (len(self.log_std) - 1)
        return torch.cat([self.log_std[:1].expand(assets), self.log_std[1:]])

    def sample(self, dist: Distribution, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws (n, *batch, D) of ``dist`` from ``generator``: the draws
        ``dist.sample((n,))`` makes from the global stream, from a stream of one's own."""
        shape = (n, *dist.batch_shape, *dist.event_shape)
        if self.distribution == "dirichlet":
            return torch._sample_dirichlet(dist.concentration.expand(shape), generator=generator)
        normal = dist.base_dist
        return torch.normal(normal.loc.expand(shape), normal.scale.expand(shape),
                            generator=generator)

    def weights(self, actions: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Portfolio weights (assets, then cash) of actions of this policy; a tilt policy
        tilts ``base`` (the actions' shape)."""
        if self.distribution == "dirichlet":
            return actions
        if self.distribution == "two_books":
            raise ValueError("two books' weights are signed: signed_weights gives them")
        if self.distribution == "tilt":
            if base is None:
                raise ValueError("a tilt policy needs the base portfolio it tilts")
            return project_simplex(base + actions)
        zeros = torch.zeros_like(actions[..., :1])
        return torch.softmax(torch.cat([actions, zeros], dim=-1), dim=-1)

    def signed_weights(self, actions: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """Weights on a long-short book (the book's projection follows): a tilt
        policy's ``base`` plus the tilt, below zero where it goes there; two books' long
        side less their short side."""
        if self.distribution == "two_books":
            long, short = self.sides
            n = actions.shape[-1] // 2
            return with_cash(long * torch.softmax(actions[..., :n], -1) -
                             short * torch.softmax(actions[..., n:], -1))
        if self.distribution != "tilt":
            raise ValueError("signed weights are a tilt policy's or two books'")
        return base + actions

    def deterministic(self, dist: Distribution) -> torch.Tensor:
        """The action to take when not exploring: the Dirichlet mean, or mu."""
        return dist.mean


def flat_rows(dist: Distribution) -> Distribution:
    """A distribution over (B, G) portfolios (grouped holdings) as one over B x G rows,
    in row-major order: what the B x G portfolios one at a time would give."""
    return _remade(dist, lambda x: x.reshape(-1, x.shape[-1]))


def distribution_rows(dist: Distribution, rows: slice) -> Distribution:
    """The distribution of some of ``dist``'s rows (its first batch axis)."""
    return _remade(dist, lambda x: x[rows])


def _remade(dist: Distribution, change) -> Distribution:
    """A Dirichlet or normal policy distribution with ``change`` applied to each of its
    parameter tensors."""
    if isinstance(dist, Dirichlet):
        return Dirichlet(change(dist.concentration), validate_args=False)
    normal = dist.base_dist
    return Independent(Normal(change(normal.loc), change(normal.scale), validate_args=False),
                       1, validate_args=False)


class ValueNet(nn.Module):
    """V(features, holdings), its own network (no parameters shared with the policy).

    With the ``shared`` encoder a portfolio is read as the mean embedding of the assets,
    the embedding of what it holds (its weights times the assets' embeddings) and its
    cash, through one more layer: a day's assets are encoded once for any number of
    portfolios."""

    def __init__(self, window: int, n_assets: int, n_features: int, *, hidden: int = 64,
                 encoder: Encoder = "mlp") -> None:
        super().__init__()
        self.shared = encoder == "shared"
        if self.shared:
            self.encoder = AssetEncoder(window, n_features, hidden)
            self.portfolio = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.Tanh())
        else:
            self.encoder = ObservationEncoder(window, n_assets, n_features, hidden, encoder)
        self.head = nn.Linear(hidden, 1)

    def forward(self, features: torch.Tensor, holdings: torch.Tensor) -> torch.Tensor:
        if not self.shared:
            return self.head(self.encoder(features, holdings)).squeeze(-1)
        per_asset, pooled = self.encoder(features)
        assets = per_asset.shape[-2]
        if holdings.dim() == 3:  # G portfolios a day
            pooled = pooled[:, None].expand(-1, holdings.shape[1], -1)
        held = torch.matmul(holdings[..., :assets], per_asset) if holdings.dim() == 3 else \
            torch.matmul(holdings[:, None, :assets], per_asset)[:, 0]
        summary = torch.cat([pooled, held, holdings[..., assets:]], -1)
        return self.head(self.portfolio(summary)).squeeze(-1)
