"""Synthetic markets with known parameters and their growth-optimal (Kelly) allocations.

Three kinds, each reproducible from a seed:

- ``iid``: i.i.d. multivariate normal log returns (log-normal prices);
- ``regime``: a hidden Markov chain switches drifts and volatilities;
- ``signal``: an observable, persistent signal ``z_t`` (a Rouwenhorst-discretized AR(1),
  published in ``panel.signals``) shifts next-day expected log returns by ``beta * z_t``.

The ground truth gives, for the state at each close, the growth-optimal weights over
the assets and cash (long-only, fully invested, no leverage) and the expected log
growth they earn over the next day. Expectations are taken on a fixed quadrature of
antithetic normal draws, the same for every weight vector, so growth figures of
different allocations are exactly comparable. In the ``regime`` market the oracle
knows the current regime, which an agent only infers: its figures are an upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from fin_hgrpo.data.panel import CASH, MarketPanel
from fin_hgrpo.errors import DataError

Kind = Literal["iid", "regime", "signal"]
KINDS: tuple[str, ...] = ("iid", "regime", "signal")
_QUADRATURE_SEED = 20250203
_TRADING_DAYS = 252


@dataclass(frozen=True)
class _Component:
    """One normal distribution of next-day log returns."""

    mean: np.ndarray  # (A,)
    cov: np.ndarray  # (A, A)


class SyntheticMarket:
    """A simulated panel plus its ground truth, per decision date.

    ``states`` is the regime (``regime``), the signal level (``signal``) or 0 (``iid``)
    at each close. Given state k, the next day's log returns come from component j with
    probability ``mixture[k, j]``.
    """

    def __init__(self, kind: str, panel: MarketPanel, states: pd.Series,
                 components: list[_Component], mixture: np.ndarray, params: dict,
                 cash_return: float, n_draws: int) -> None:
        self.kind = kind
        self.panel = panel
        self.cash_return = cash_return
        self.states = states
        self.params = params
        self.mixture = mixture
        self.columns = [*panel.tickers, CASH]
        self._draws = _relatives(components, 1.0 + cash_return, n_draws)
        solved = [growth_optimal(self._draws, probs) for probs in mixture]
        self.state_weights = np.stack([w for w, _ in solved])
        equal = np.r_[np.full(panel.n_assets, 1.0 / panel.n_assets), 0.0]
        index = states.to_numpy()
        self.oracle_weights = pd.DataFrame(self.state_weights[index], index=panel.dates,
                                           columns=self.columns)
        self.oracle_growth = pd.Series(np.array([g for _, g in solved])[index],
                                       index=panel.dates, name="oracle")
        equal_growth = np.array([self._growth(equal[None], k)[0] for k in range(len(mixture))])
        self.equal_weight_growth = pd.Series(equal_growth[index], index=panel.dates,
                                             name="equal_weight")

    def _growth(self, weights: np.ndarray, state: int) -> np.ndarray:
        """Expected next-day log growth of each row of ``weights`` in the given state."""
        return sum(
            p * np.log(weights @ draws.T).mean(axis=1)
            for p, draws in zip(self.mixture[state], self._draws, strict=True) if p > 0
        )

    def expected_growth(self, weights: pd.DataFrame) -> pd.Series:
        """Expected next-day log growth of the given weights held from each date's close.

        ``weights``: dates (any of the panel's) x assets and cash, rows on the simplex.
        """
        missing = [c for c in self.columns if c not in weights.columns]
        if missing:
            raise DataError(f"synthetic:{self.kind}: weights lack columns {missing}")
        values = weights[self.columns].to_numpy(dtype=float)
        if (values < -1e-9).any() or not np.allclose(values.sum(axis=1), 1.0, atol=1e-6):
            raise DataError(f"synthetic:{self.kind}: weights must be on the simplex")
        states = self.states.reindex(weights.index)
        if states.isna().any():
            raise DataError(f"synthetic:{self.kind}: weights have dates outside the panel")
        state_index = states.to_numpy(dtype=int)
        out = np.empty(len(values))
        for k in np.unique(state_index):
            rows = state_index == k
            out[rows] = self._growth(np.clip(values[rows], 0.0, None), int(k))
        return pd.Series(out, index=weights.index, name="expected_growth")

    def skill(self, weights: pd.DataFrame, cost_bps: float = 0.0) -> float:
        """(growth - 1/N's) / (oracle's - 1/N's), averaged over the dates of ``weights``.

        1 matches the growth-optimal allocation, 0 does no better than 1/N. With
        ``cost_bps`` every growth is net of what trading to each day's weights costs
        along the panel's realised prices (``trading_costs``), the oracle's and 1/N's
        alike: a policy that churns pays for it, as it would in a backtest.
        """
        dates = weights.index
        net = {"weights": self.expected_growth(weights),
               "oracle": self.oracle_growth[dates],
               "equal": self.equal_weight_growth[dates]}
        if cost_bps:
            equal = np.r_[np.full(self.panel.n_assets, 1.0 / self.panel.n_assets), 0.0]
            paths = {"weights": weights[self.columns],
                     "oracle": self.oracle_weights.loc[dates],
                     "equal": pd.DataFrame(np.tile(equal, (len(dates), 1)), index=dates,
                                           columns=self.columns)}
            net = {name: growth + np.log1p(-self.trading_costs(paths[name], cost_bps))
                   for name, growth in net.items()}
        possible = net["oracle"].mean() - net["equal"].mean()
        if possible <= 0:
            raise DataError(f"synthetic:{self.kind}: 1/N is already growth-optimal here")
        return float((net["weights"].mean() - net["equal"].mean()) / possible)

    def trading_costs(self, weights: pd.DataFrame, cost_bps: float) -> pd.Series:
        """What trading to each date's ``weights`` costs, as a share of wealth: ``cost_bps``
        on the assets' traded value, from the previous date's weights drifted by the
        panel's prices (from cash before the first date). ``weights``: consecutive dates
        of the panel, assets then cash."""
        values = weights[self.columns].to_numpy(dtype=float)
        first = self.panel.dates.get_loc(weights.index[0])
        prices = self.panel.price_array()[first:first + len(values)]
        if len(prices) < len(values) or not self.panel.dates[
                first:first + len(values)].equals(weights.index):
            raise DataError(f"synthetic:{self.kind}: trading costs need consecutive dates "
                            "of the panel")
        n = self.panel.n_assets
        held = np.zeros_like(values)
        held[0, n] = 1.0
        relatives = np.column_stack([prices[1:] / prices[:-1],
                                     np.full(len(values) - 1, 1.0 + self.cash_return)])
        grown = values[:-1] * relatives
        held[1:] = grown / grown.sum(axis=1, keepdims=True)
        traded = np.abs(values[:, :n] - held[:, :n]).sum(axis=1)
        return pd.Series(traded * cost_bps / 1e4, index=weights.index, name="cost")

    def __repr__(self) -> str:
        return (f"SyntheticMarket(kind={self.kind}, {self.panel.n_assets} assets, "
                f"{len(self.panel)} days, oracle growth {self.oracle_growth.mean():.2e}/day, "
                f"1/N {self.equal_weight_growth.mean():.2e}/day)")


def synthetic_market(
    kind: Kind,
    *,
    n_assets: int = 5,
    n_days: int = 2520,
    seed: int = 0,
    start: str = "2010-01-04",
    cash_return: float = 0.0,
    n_draws: int = 8192,
    annual_drift: Sequence[float] | None = None,
    annual_vol: Sequence[float] | None = None,
) -> SyntheticMarket:
    """Simulate a market of the given kind; its parameters are drawn from ``seed``.

    Drifts and volatilities (annualised log returns, in ``params``) are drawn so that
    assets differ in growth; ``annual_drift`` and ``annual_vol`` (one value per asset)
    set them instead, for ``iid`` and ``signal`` markets (the signal's mean level).
    ``cash_return`` is the daily return of cash; ``n_draws`` the size of the quadrature.
    """
    if kind not in KINDS:
        raise DataError(f"synthetic: unknown kind {kind!r}; use one of {KINDS}")
    if n_assets < 2 or n_days < 2:
        raise DataError("synthetic: need at least 2 assets and 2 days")
    overrides = {}
    for name, values in (("drift", annual_drift), ("vol", annual_vol)):
        if values is not None:
            if kind == "regime":
                raise DataError(f"synthetic: annual_{name} applies to iid and signal markets")
            if len(values) != n_assets:
                raise DataError(f"synthetic: annual_{name} needs {n_assets} values, "
                                f"got {len(values)}")
            overrides[name] = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    components, transition, mixture, levels, params = _BUILDERS[kind](rng, n_assets,
                                                                      **overrides)
    states = _markov_chain(rng, transition, n_days)
    # The component of day t+1's return given the state at day t's close: the one
    # distribution (iid), the regime the chain moves to (regime), the signal's level.
    component = {"iid": np.zeros(n_days - 1, dtype=int), "regime": states[1:],
                 "signal": states[:-1]}[kind]
    log_returns = np.zeros((n_days, n_assets))
    for j, comp in enumerate(components):
        days = np.flatnonzero(component == j) + 1
        log_returns[days] = rng.multivariate_normal(comp.mean, comp.cov, size=len(days))
    dates = pd.bdate_range(start, periods=n_days, name="date")
    prices = pd.DataFrame(100.0 * np.exp(np.cumsum(log_returns, axis=0)), index=dates,
                          columns=[f"S{i}" for i in range(n_assets)])
    signals = None if levels is None else pd.DataFrame({"signal": levels[states]}, index=dates)
    panel = MarketPanel(prices, signals=signals, source=f"synthetic:{kind}")
    params.update(seed=seed, n_assets=n_assets, n_days=n_days, cash_return=cash_return)
    return SyntheticMarket(kind, panel, pd.Series(states, index=dates, name="state"),
                           components, mixture, params, cash_return, n_draws)


def growth_optimal(draws: list[np.ndarray], probs: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights on the simplex maximising sum_j probs[j] * mean(log(draws[j] @ w)).

    ``draws[j]``: (M, n) price relatives of the assets and cash under component j.
    Returns the weights and the expected log growth they earn.
    """
    used = [(p, x) for p, x in zip(probs, draws, strict=True) if p > 0]
    n = used[0][1].shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.0, np.zeros(n)
        for p, x in used:
            wealth = x @ w
            value -= p * np.log(wealth).mean()
            grad -= p * (x / wealth[:, None]).mean(axis=0)
        return value, grad

    result = minimize(loss, np.full(n, 1.0 / n), jac=True, method="SLSQP",
                      bounds=[(0.0, 1.0)] * n,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                    "jac": lambda w: np.ones_like(w)}],
                      options={"ftol": 1e-12, "maxiter": 1000})
    weights = np.clip(result.x, 0.0, None)
    weights /= weights.sum()
    return weights, -loss(weights)[0]


def _relatives(components: list[_Component], cash_relative: float,
               n_draws: int) -> list[np.ndarray]:
    """Price relatives of assets and cash on one fixed antithetic normal quadrature."""
    n_assets = len(components[0].mean)
    half = np.random.default_rng(_QUADRATURE_SEED).standard_normal((n_draws // 2, n_assets))
    z = np.vstack([half, -half])
    out = []
    for comp in components:
        chol = np.linalg.cholesky(comp.cov)
        assets = np.exp(comp.mean + z @ chol.T)
        out.append(np.column_stack([assets, np.full(len(z), cash_relative)]))
    return out


def _markov_chain(rng: np.random.Generator, transition: np.ndarray, n: int) -> np.ndarray:
    stationary = np.linalg.matrix_power(transition, 10_000)[0]
    cumulative = np.cumsum(transition, axis=1)
    uniforms = rng.random(n)
    states = np.empty(n, dtype=int)
    states[0] = min(np.searchsorted(np.cumsum(stationary), uniforms[0]), len(transition) - 1)
    for t in range(1, n):
        row = cumulative[states[t - 1]]
        states[t] = min(np.searchsorted(row, uniforms[t]), len(row) - 1)
    return states


def _covariance(annual_vol: np.ndarray, corr: float) -> np.ndarray:
    n = len(annual_vol)
    correlation = np.full((n, n), corr) + (1.0 - corr) * np.eye(n)
    daily = annual_vol / np.sqrt(_TRADING_DAYS)
    return correlation * np.outer(daily, daily)


def _iid(rng: np.random.Generator, n: int, drift=None, vol=None):
    drawn_drift, drawn_vol = rng.uniform(-0.05, 0.30, n), rng.uniform(0.15, 0.35, n)
    drift = drawn_drift if drift is None else drift
    vol = drawn_vol if vol is None else vol
    comp = _Component(drift / _TRADING_DAYS, _covariance(vol, 0.3))
    params = {"annual_drift": drift.tolist(), "annual_vol": vol.tolist(), "corr": 0.3}
    return [comp], np.ones((1, 1)), np.ones((1, 1)), None, params


def _regime(rng: np.random.Generator, n: int):  # drift and vol per regime are drawn
    bull_drift, bull_vol = rng.uniform(0.05, 0.35, n), rng.uniform(0.12, 0.25, n)
    bear_drift, bear_vol = rng.uniform(-0.60, -0.10, n), rng.uniform(0.30, 0.50, n)
    components = [
        _Component(bull_drift / _TRADING_DAYS, _covariance(bull_vol, 0.3)),
        _Component(bear_drift / _TRADING_DAYS, _covariance(bear_vol, 0.6)),
    ]
    transition = np.array([[0.99, 0.01], [0.03, 0.97]])
    params = {
        "regimes": ["bull", "bear"],
        "annual_drift": [bull_drift.tolist(), bear_drift.tolist()],
        "annual_vol": [bull_vol.tolist(), bear_vol.tolist()],
        "corr": [0.3, 0.6],
        "transition": transition.tolist(),
    }
    return components, transition, transition, None, params


def _signal(rng: np.random.Generator, n: int, drift=None, vol=None, levels: int = 5,
            rho: float = 0.95):
    drawn_drift, drawn_vol = rng.uniform(0.0, 0.10, n), rng.uniform(0.15, 0.30, n)
    drift = drawn_drift if drift is None else drift
    vol = drawn_vol if vol is None else vol
    beta = rng.normal(0.0, 0.002, n)  # daily log-return shift per unit of signal
    z, transition = _rouwenhorst(levels, rho, 1.0)
    cov = _covariance(vol, 0.3)
    components = [_Component(drift / _TRADING_DAYS + beta * level, cov) for level in z]
    params = {"annual_drift": drift.tolist(), "annual_vol": vol.tolist(), "corr": 0.3,
              "beta": beta.tolist(), "signal_levels": z.tolist(), "rho": rho,
              "transition": transition.tolist()}
    return components, transition, np.eye(levels), z, params


def _rouwenhorst(n: int, rho: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Rouwenhorst's n-state Markov chain for an AR(1) with persistence rho, sd sigma."""
    p = (1.0 + rho) / 2.0
    matrix = np.array([[p, 1.0 - p], [1.0 - p, p]])
    for m in range(3, n + 1):
        grown = np.zeros((m, m))
        grown[:-1, :-1] += p * matrix
        grown[:-1, 1:] += (1.0 - p) * matrix
        grown[1:, :-1] += (1.0 - p) * matrix
        grown[1:, 1:] += p * matrix
        grown[1:-1] /= 2.0
        matrix = grown
    spread = sigma * np.sqrt(n - 1)
    return np.linspace(-spread, spread, n), matrix


_BUILDERS = {"iid": _iid, "regime": _regime, "signal": _signal}
