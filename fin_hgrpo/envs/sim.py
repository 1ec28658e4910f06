"""PortfolioSim: the one place where rebalancing, costs, drift and returns are computed.

Weights have ``A + 1`` entries, the assets then cash (last). At the close of decision
day t the portfolio holds ``w_prev`` (yesterday's target, drifted by today's prices); it
trades to a target ``w``, paying a proportional cost on the traded value, and holds
``w`` until the close of t+1:

    turnover = 1/2 sum_i |w_i - w_prev_i|           (one-way: over the assets and cash)
    cost     = sum_i max(c_i |w_i - w_prev_i|, m)   (assets; m applies to trades > 1e-6)
    net      = (1 - cost) * (w . X_{t+1}) - 1       X: price relatives, cash 1 + r_f
    log      = log(1 + net)
    w_next   = w * X_{t+1} / (w . X_{t+1})          (holdings drifted to the next close)

Turnover is one-way: the share of the portfolio that changed hands, which is the value
bought and also the value sold (cash counts as a position, so an entry from cash is 1
and a full switch from one asset to another is 1, not 2). Costs are charged on each
asset's traded value; cash trades free. The minimum fee ``m`` applies to assets traded
by more than 1e-6 of wealth: smaller differences are rounding, not trades.

A price-taker does not move prices, so ``X_{t+1}`` is the same for every candidate:
``score`` evaluates any number of candidate targets per state in one batched call.

A long-short or leveraged book (a ``Book``: bounds per asset, net and gross limits)
holds signed asset weights and cash ``1 - sum(w)``, which holds the short proceeds and
is a loan when negative. Its day adds the carry of its positions:

    borrow    = sum_i max(-w_i, 0) b_i d_t       b_i: borrow fee a year, d_t: days/365
    financing = max(-w_c, 0) s d_t               s: the spread over cash_rate on a loan
    after     = w . X_{t+1} - borrow - financing (cash earns, or pays, cash_rate)
    net       = (1 - cost) * after - 1
    w_next    = (w_assets * X, w_c X_c - borrow - financing) / after

with d_t the calendar days from the close of t to the next, over 365. A day whose
``after`` is not above zero has lost the book's whole wealth: that is ruin. Its net
return is -1 (a deficit beyond the wealth is not carried), its log return the log of a
floor (finite), and the book is all cash after it. A long-only book never shorts or
borrows, and its arithmetic is the one above without these terms.

Costs that grow with size need the panel's volume and a stated portfolio size W
(``aum``, in dollars). Square-root market impact adds, per asset traded,

    impact_i = b sigma_i |w_i - w_prev_i|^(3/2) (W / V_i)^(1/2)

(sigma_i the volatility of daily returns and V_i the mean dollar volume, both over
the ``impact_days`` up to the decision's close), and a participation cap fills each
trade only up to ``max_participation`` V_i / W of wealth: the rest of it is not made,
and cash takes up the difference (a long-only portfolio's purchases are scaled down
so that cash stays at or above zero).

A point-in-time universe (a panel aligned ``listed``) has assets that are not always
tradable. At each decision every candidate is restricted, in the same batched call: a
ticker that has delisted is settled into cash (its last return, into the day after its
last price, is ``delisting_return``: 0 by default, because what holders received
depends on why it delisted, which prices do not say; about -0.3 is the historical
average for delistings for poor performance), a halted ticker or one still in its
feature warm-up keeps the weight held, and the other weights (cash included) are scaled
to fill the rest. A settlement is not a trade: it costs nothing.

A training set need not be one stretch of days: combinatorial cross-validation trains
on the days around its test groups. ``segments`` names the stretches (inclusive day
indices) a training sim may read. Each one's features are computed from its own prices
alone and are missing elsewhere, so the scaling's statistics are fitted on training
rows only; decisions start once a segment's own history fills the features and end a
day before its last, so no episode, and no continuation of one, crosses a gap.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.data import DEFAULT_FEATURES, FeatureSpec, MarketPanel, compute_features
from fin_hgrpo.data.features import Features
from fin_hgrpo.envs.book import Book, with_cash
from fin_hgrpo.envs.feature_scaling import Scaling, standardise
from fin_hgrpo.errors import DataError

ActionTransform = Literal["softmax", "normalize"]
_NORMALIZE_MIN_PERIODS = 20
_FEATURE_CLIP = 10.0  # standardised features beyond 10 sd are clipped
_RAW_FEATURE_CLIP = 1e6
MIN_FEE_TRADE = 1e-6  # the minimum fee applies to trades above this share of wealth
RUIN_FLOOR = 1e-12  # the growth factor a ruined day's log return is taken of


class Scored(NamedTuple):
    """Outcome of holding each candidate from t to t+1; (B, N) or (B, N, A+1) tensors.

    ``cost`` is the trading cost (market impact included, and ``impact`` on its own),
    ``borrow`` and ``financing`` what the book paid to hold its shorts and its loan,
    each a share of the day's starting wealth; ``ruined``: the day lost all of it."""

    turnover: torch.Tensor
    cost: torch.Tensor
    net_return: torch.Tensor
    log_return: torch.Tensor
    holdings: torch.Tensor
    borrow: torch.Tensor
    financing: torch.Tensor
    ruined: torch.Tensor
    impact: torch.Tensor  # the part of ``cost`` that is market impact


class PortfolioSim:
    """Batched portfolio arithmetic over one market panel.

    ``window`` days of causal features make an observation; decisions are possible on
    days ``first_decision .. last_decision`` (the last has a next day to earn on).
    ``dtype``: float32 for training, float64 (default) for backtests.
    """

    def __init__(
        self,
        panel: MarketPanel,
        *,
        features: Sequence[FeatureSpec | dict] = DEFAULT_FEATURES,
        window: int = 20,
        cost_bps: float | Sequence[float] = 10.0,
        min_cost_bps: float = 0.0,
        cash_rate: float | Sequence[float] | np.ndarray = 0.0,
        max_weight: float = 1.0,
        allow_cash: bool = True,
        action_transform: ActionTransform = "softmax",
        normalize_features: bool = True,
        feature_scaling: Scaling = "pooled",
        feature_halflife: int = 126,
        tradable_feature: bool = False,
        delisting_return: float = 0.0,
        members: pd.DataFrame | np.ndarray | None = None,
        segments: Sequence[tuple[int, int]] | None = None,
        book: Book | None = None,
        borrow_bps_year: float | Sequence[float] = 0.0,
        financing_spread_bps_year: float = 0.0,
        impact: float = 0.0,
        aum: float | None = None,
        impact_days: int = 63,
        max_participation: float | None = None,
        shortable: pd.DataFrame | np.ndarray | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if window < 1:
            raise DataError(f"window must be >= 1, got {window}")
        self.panel = panel
        self.dtype, self.device = dtype, torch.device(device)
        # a book's limits are its own (envs.book), up to max_weight above 1 on a levered one
        self._set_caps(min(max_weight, 1.0) if book is not None else max_weight, allow_cash)
        self._set_costs(cost_bps, min_cost_bps)
        self._set_book(book, borrow_bps_year, financing_spread_bps_year)
        self._set_impact(impact, aum, impact_days, max_participation)
        if action_transform not in ("softmax", "normalize"):
            raise DataError(f"action_transform must be 'softmax' or 'normalize', "
                            f"got {action_transform!r}")
        self.date_values = panel.dates.to_numpy()  # for labelling steps without pandas
        self.window = window
        self.action_transform = action_transform
        self.allow_cash = allow_cash
        listed = self._set_relatives(cash_rate, delisting_return)
        spans = [(0, len(panel) - 1)] if segments is None else _checked(segments, len(panel))
        feats = _segment_features(panel, features, spans)
        ready = np.isfinite(feats.values).all(axis=-1) & panel.tradable.to_numpy()  # (T, A)
        member = np.ones_like(ready) if members is None else np.asarray(members, dtype=bool)
        if member.shape != ready.shape:
            raise DataError(f"members has shape {member.shape}, the panel {ready.shape}")
        self._set_observations(feats, ready & member, normalize_features, feature_scaling,
                               feature_halflife, tradable_feature)
        self._set_universe(ready, member, listed, members is not None)
        self.shortable = None if shortable is None else \
            torch.tensor(np.asarray(shortable, dtype=bool), device=self.device)  # (T, A)
        if self.shortable is not None and self.shortable.shape != self.tradable.shape:
            raise DataError(f"shortable has shape {tuple(self.shortable.shape)}, the panel "
                            f"{tuple(self.tradable.shape)}")
        self._set_decision_days(spans, feats, ready, normalize_features)

    def _set_costs(self, cost_bps: float | Sequence[float] | np.ndarray,
                   min_cost_bps: float) -> None:
        """Proportional costs (one for all, one per asset, or one per day and asset: an
        estimated spread), and the minimum fee per traded asset."""
        n, days = self.panel.n_assets, len(self.panel)
        costs = _by_day_and_asset(cost_bps, days, n)
        if costs is None:
            raise DataError(f"cost_bps needs one value, one per asset ({n}) or one per day "
                            f"and asset ({days} x {n}), got shape {np.shape(cost_bps)}")
        if not (costs >= 0).all() or min_cost_bps < 0:
            raise DataError("costs must be non-negative")
        self._uniform_cost = bool(np.all(costs == costs[0, 0]))
        self.cost_rate = self._tensor(costs / 1e4)  # (T, A): row t, paid trading at t
        self.min_cost = min_cost_bps / 1e4

    def _set_book(self, book: Book | None, borrow_bps_year: float | Sequence[float] | np.ndarray,
                  financing_spread_bps_year: float) -> None:
        """A long-short or leveraged book's limits, and its carry: the borrow fee of each
        asset (one for all, one per asset, or one per day and asset) and the spread on
        borrowed cash, a year, accrued by calendar days."""
        n, days = self.panel.n_assets, len(self.panel)
        self.book = book
        self.long_short = book is not None
        if book is not None and book.lower.shape != (n,):
            raise DataError(f"the book has bounds for {book.lower.size} assets, the panel "
                            f"{n}")
        borrow = _by_day_and_asset(borrow_bps_year, days, n)
        if borrow is None or (borrow < 0).any() or financing_spread_bps_year < 0:
            raise DataError(f"borrow_bps_year needs values >= 0: one, one per asset ({n}) "
                            f"or one per day and asset ({days} x {n}); and the financing "
                            "spread must be >= 0")
        if book is None and (borrow.any() or financing_spread_bps_year):
            raise DataError("borrow fees and a financing spread need a long-short book: "
                            "a long-only one never shorts or borrows")
        self.borrow_rate = self._tensor(borrow / 1e4)  # (T, A): row t, held from t to t+1
        self.financing_spread = financing_spread_bps_year / 1e4
        seconds = np.diff(self.panel.dates.to_numpy()).astype("timedelta64[s]").astype(float)
        self.accrual = self._tensor(seconds / (365 * 86400))  # row t: from t to t+1, years

    def _set_impact(self, impact: float, aum: float | None, days: int,
                    max_participation: float | None) -> None:
        """Per day and asset, causal: the square-root impact's scale b sigma (W / V)^(1/2)
        and the participation cap rho V / W (share of wealth a trade may fill)."""
        self.impact_scale = self.fill_cap = None
        if not impact and max_participation is None:
            return
        panel = self.panel
        if aum is None or not aum > 0:
            raise DataError("market impact and a participation cap need the portfolio's "
                            "size, aum (dollars)")
        if "volume" not in panel.fields:
            raise DataError(f"{panel.source}: market impact and a participation cap need "
                            f"volume, and this panel has only {', '.join(panel.fields)}")
        prices = panel.prices
        dollars = (panel.field("volume") * prices).rolling(days, min_periods=1).mean()
        listed = prices.notna()
        silent = [t for t in panel.tickers if not (dollars[t][listed[t]] > 0).any()]
        if silent:
            raise DataError(f"{panel.source}: no volume for ticker {silent[0]}: market impact "
                            "and a participation cap need it")
        dollars = dollars.clip(lower=1.0).fillna(1.0).to_numpy()  # a dollar at least
        sigma = prices.pct_change().rolling(days, min_periods=2).std().fillna(0.0).to_numpy()
        if impact:
            self.impact_scale = self._tensor(impact * sigma * np.sqrt(aum / dollars))
        if max_participation is not None:
            self.fill_cap = self._tensor(max_participation * dollars / aum)

    def _set_caps(self, max_weight: float, allow_cash: bool) -> None:
        """The largest weight each position may take (assets, then cash)."""
        n = self.panel.n_assets
        if not 0.0 < max_weight <= 1.0 or (not allow_cash and max_weight * n < 1.0 - 1e-12):
            raise DataError(f"max_weight {max_weight} cannot hold a fully invested portfolio "
                            f"of {n} assets" + ("" if allow_cash else " without cash"))
        self.caps = self._tensor(np.r_[np.full(n, max_weight), 1.0 if allow_cash else 0.0])
        self._capped = bool(max_weight < 1.0 or not allow_cash)

    def _set_relatives(self, cash_rate: float | Sequence[float] | np.ndarray,
                       delisting_return: float) -> np.ndarray:
        """Price relatives from each close to the next, cash last (``cash_rate``: cash's
        return over every bar, or over each: T - 1 values); returns where each ticker is
        listed (has a price)."""
        prices = self.panel.price_array()
        with np.errstate(invalid="ignore"):
            asset_relatives = prices[1:] / prices[:-1]
        listed = np.isfinite(prices)  # a ticker has no price outside its listing
        if self.panel.has_gaps:
            asset_relatives = _with_delistings(asset_relatives, listed, delisting_return)
        bars = len(prices) - 1
        cash = np.asarray(cash_rate, dtype=float)
        if cash.shape not in ((), (bars,)) or not np.isfinite(cash).all():
            raise DataError(f"cash_rate needs one finite value or one per bar ({bars}), "
                            f"got shape {cash.shape}")
        relatives = np.column_stack([asset_relatives, 1.0 + np.broadcast_to(cash, bars)])
        self.relatives = self._tensor(relatives)  # row t: from the close of t to t+1
        return listed

    def _set_observations(self, feats, tradable: np.ndarray, normalize_features: bool,
                          feature_scaling: Scaling, feature_halflife: int,
                          tradable_feature: bool) -> None:
        """The feature table (T, A, F) the observation windows are read from, scaled
        and clipped, zero during warm-up (and the tradable flag as a feature)."""
        values = standardise(feats.values, feature_scaling, halflife=feature_halflife) \
            if normalize_features else feats.values
        self.feature_names = feats.names + (("tradable",) if tradable_feature else ())
        self.feature_bound = _FEATURE_CLIP if normalize_features else _RAW_FEATURE_CLIP
        values = np.clip(np.nan_to_num(values), -self.feature_bound, self.feature_bound)
        if tradable_feature:
            values = np.concatenate([values, tradable[..., None].astype(float)], axis=-1)
        self.features = self._tensor(values)  # (T, A, F)
        # a window is gathered when it is read (T x A x F held, not T x window x A x F)
        self._offsets = torch.arange(1 - self.window, 1, device=self.device)

    def _set_universe(self, ready: np.ndarray, member: np.ndarray, listed: np.ndarray,
                      has_members: bool) -> None:
        """A point-in-time universe: what each decision may trade, and what is listed."""
        self.masked = self.panel.has_gaps or has_members
        self.tradable = torch.tensor(ready & member, device=self.device)  # may be bought
        self._ready = torch.tensor(ready, device=self.device)  # may be traded at all
        self.listed = torch.tensor(listed, device=self.device)

    def _set_decision_days(self, spans: list[tuple[int, int]], feats: Features,
                           ready: np.ndarray, normalize_features: bool) -> None:
        """In each segment, the first day with the features' history (and the scaling's)
        behind it, and the last day with a next day in the segment to earn on: the
        ``decision_ranges``. ``segment_stop[t]`` is the last decision of t's segment."""
        ranges, history = [], 0
        for start, end in spans:
            present = ready[start:end + 1].any(axis=1) if self.panel.has_gaps else \
                np.isfinite(feats.values[start:end + 1]).all(axis=(1, 2))
            warmup = int(np.argmax(present)) if present.any() else end - start + 1
            history = warmup + (_NORMALIZE_MIN_PERIODS if normalize_features else 0)
            first = start + max(history, self.window - 1)
            if first <= end - 1:
                ranges.append((first, end - 1))
        if not ranges:
            raise DataError(f"{self.panel.source}: {len(self.panel)} days are too few for "
                            f"window {self.window} and features needing {history} days of history")
        self.decision_ranges = ranges
        self.first_decision, self.last_decision = ranges[0][0], ranges[-1][1]
        stop = np.full(len(self.panel), -1)
        for first, last in ranges:
            stop[first:last + 1] = last
        self.segment_stop = torch.as_tensor(stop, dtype=torch.long, device=self.device)

    @classmethod
    def joined(cls, sims: Sequence[PortfolioSim]) -> tuple[PortfolioSim, list[int]]:
        """Simulators laid end to end as one, and where each starts: day t of
        ``sims[k]`` is day ``t + offsets[k]`` of the joined one, whose ``observe``,
        ``score``, ``constrain`` and ``segment_stop`` give there what ``sims[k]``'s give
        at t. It observes and scores many training windows' days in one call (a
        population's members in lockstep); its panel and dates are the first one's.
        The simulators must share caps, window, book and feature shapes."""
        first = sims[0]
        for k, sim in enumerate(sims[1:], start=1):
            if (sim.window, sim.dtype, sim.device, sim.min_cost, sim.features.shape[1:]) != \
                    (first.window, first.dtype, first.device, first.min_cost,
                     first.features.shape[1:]) or not torch.equal(sim.caps, first.caps) \
                    or sim.book != first.book or sim.financing_spread != first.financing_spread \
                    or (sim.impact_scale is None) != (first.impact_scale is None) \
                    or (sim.fill_cap is None) != (first.fill_cap is None) \
                    or (sim.shortable is None) != (first.shortable is None):
                raise ValueError(f"simulator {k} differs from simulator 0 in its caps, book, "
                                 "window or features: they cannot be joined")
        offsets = np.cumsum([0] + [len(sim.features) for sim in sims[:-1]]).tolist()
        joined = copy.copy(first)
        # each simulator's T - 1 relatives, and a row for its last day (never earned on)
        joined.relatives = torch.cat([torch.cat([sim.relatives, torch.ones_like(sim.relatives[:1])])
                                      for sim in sims])
        joined.accrual = torch.cat([torch.cat([sim.accrual, sim.accrual.new_zeros(1)])
                                    for sim in sims])
        joined._uniform_cost = all(sim._uniform_cost for sim in sims) and \
            len({float(sim.cost_rate[0, 0]) for sim in sims}) == 1
        for name in ("features", "tradable", "_ready", "listed", "borrow_rate", "cost_rate"):
            setattr(joined, name, torch.cat([getattr(sim, name) for sim in sims]))
        if first.shortable is not None:
            joined.shortable = torch.cat([sim.shortable for sim in sims])
        for name in ("impact_scale", "fill_cap"):
            if getattr(first, name) is not None:
                setattr(joined, name, torch.cat([getattr(sim, name) for sim in sims]))
        joined.masked = any(sim.masked for sim in sims)
        joined.segment_stop = torch.cat([torch.where(sim.segment_stop >= 0,
                                                     sim.segment_stop + offset, -1)
                                         for sim, offset in zip(sims, offsets, strict=True)])
        joined.decision_ranges = [(a + offset, b + offset)
                                  for sim, offset in zip(sims, offsets, strict=True)
                                  for a, b in sim.decision_ranges]
        joined.first_decision = joined.decision_ranges[0][0]
        joined.last_decision = joined.decision_ranges[-1][1]
        return joined, offsets

    # ---- shapes ---------------------------------------------------------------------------
    @property
    def n_assets(self) -> int:
        return self.panel.n_assets

    @property
    def n_weights(self) -> int:
        return self.panel.n_assets + 1

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def dates(self):
        return self.panel.dates

    def day(self, date: object) -> int:
        """Index of the first trading day on or after ``date``."""
        return int(self.dates.searchsorted(pd.Timestamp(date)))

    def _tensor(self, values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values), dtype=self.dtype, device=self.device)

    def equal_weight_log_return(self, t: torch.Tensor) -> torch.Tensor:
        """1/N's log return (B,) from the close of each day ``t`` to the next: equal
        weights over the names tradable at that close (cash where none is), before
        costs: what a reward relative to 1/N subtracts."""
        relatives, tradable = self.relatives[t], self.tradable[t]
        count = tradable.sum(-1)
        mean = torch.where(tradable, relatives[:, :-1], 0.0).sum(-1) / count.clamp(min=1)
        return torch.log(torch.where(count > 0, mean, relatives[:, -1]))

    # ---- observations -------------------------------------------------------------------
    def observe(self, t: torch.Tensor) -> torch.Tensor:
        """Feature windows ending at each day t: (B, window, A, F), data up to t only."""
        days = (t[:, None] + self._offsets).reshape(-1)
        return torch.index_select(self.features, 0, days).view(len(t), self.window,
                                                               *self.features.shape[1:])

    # ---- weights ------------------------------------------------------------------------
    def to_weights(self, actions: torch.Tensor) -> torch.Tensor:
        """Map raw actions (..., A+1) to target weights on the (capped) simplex.

        ``softmax``: softmax of the values as logits. ``normalize``: negative values are
        set to zero and the rest scaled to sum to one (all zero means equal weights).
        Without cash its entry is ignored; with ``max_weight`` the result is projected
        onto the capped simplex (Euclidean projection). A long-short book reads the
        assets' values as signed weights and projects them onto its limits; cash is
        what is left.
        """
        actions = torch.as_tensor(actions, dtype=self.dtype, device=self.device)
        if actions.shape[-1] != self.n_weights:
            raise DataError(f"actions need {self.n_weights} values (assets, then cash), "
                            f"got shape {tuple(actions.shape)}")
        if not torch.isfinite(actions).all():
            raise DataError("action contains NaN or inf")
        if self.long_short:
            return self.constrain(actions)
        allowed = self.caps > 0
        if self.action_transform == "softmax":
            weights = torch.softmax(actions.masked_fill(~allowed, -torch.inf), dim=-1)
        else:
            mask = allowed.to(self.dtype)
            positive = actions.clamp(min=0.0) * mask
            peak = positive.amax(-1, keepdim=True)
            has_positive = peak > 0
            # scale by the largest value first: sums of subnormal actions would underflow
            scaled = positive / torch.where(has_positive, peak, 1.0)
            total = scaled.sum(-1, keepdim=True).clamp(min=1.0)  # >= 1 wherever has_positive
            weights = torch.where(has_positive, scaled / total, mask / mask.sum())
        return self.constrain(weights)

    def constrain(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights already on the simplex, projected onto the capped one if there are caps;
        a long-short book's assets projected onto its limits, and cash what is left."""
        if self.long_short:
            return self.book.within(weights)
        return project_capped_simplex(weights, self.caps) if self._capped else weights

    def restrict(self, t: torch.Tensor, w_prev: torch.Tensor,
                 candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The holdings after settling delisted tickers into cash, and each candidate
        restricted to what day t may trade (``w_prev``: (B, A+1); ``candidates``:
        (B, N, A+1)): nothing on a delisted ticker or on one that is not a member (sold,
        at the usual cost), halted holdings kept. The identity on a universe without
        gaps or membership. A book's short in a ticker that cannot be shorted on day t
        (a dated shortable file) is closed: bought back, at the usual cost. (``fill``
        then fills each trade up to the participation cap.)"""
        if self.shortable is not None:
            barred = (candidates[..., :self.n_assets] < 0) & ~self.shortable[t][:, None, :]
            candidates = with_cash(candidates[..., :self.n_assets].masked_fill(barred, 0.0))
        if not self.masked:
            return w_prev, candidates
        n = self.n_assets
        gone = torch.zeros_like(w_prev, dtype=torch.bool)
        gone[:, :n] = ~self.listed[t]
        settled = torch.where(gone, 0.0, w_prev)
        settled[:, n] += torch.where(gone, w_prev, 0.0).sum(-1)
        frozen = torch.zeros_like(w_prev, dtype=torch.bool)
        frozen[:, :n] = self.listed[t] & ~self._ready[t]
        excluded = gone.clone()
        excluded[:, :n] |= self._ready[t] & ~self.tradable[t]  # not a member: sold
        allowed = torch.where(excluded[:, None, :], 0.0, candidates)
        keep = keep_in_cash if self.long_short else keep_held
        restricted = keep(settled[:, None, :].expand_as(candidates), allowed,
                          frozen[:, None, :].expand_as(candidates))
        return settled, restricted

    def fill(self, t: torch.Tensor, w_prev: torch.Tensor,
             candidates: torch.Tensor) -> torch.Tensor:
        """Each candidate's trades filled only up to the participation cap (cash takes
        up the rest; a long-only portfolio's purchases are scaled to keep cash >= 0)."""
        if self.fill_cap is None:
            return candidates
        n = self.n_assets
        cap = self.fill_cap[t][:, None, :]
        held = w_prev[:, None, :n]
        trades = (candidates[..., :n] - held).clamp(min=-cap, max=cap)
        if not self.long_short:  # purchases paid for by what was sold and the cash held
            buys = trades.clamp(min=0.0)
            room = w_prev[:, None, n:] - trades.clamp(max=0.0).sum(-1, keepdim=True)
            scale = (room / buys.sum(-1, keepdim=True).clamp(min=1e-300)).clamp(max=1.0)
            trades = torch.where(trades > 0, trades * scale, trades)
        return with_cash(held + trades)

    def capped(self, t: torch.Tensor, w_prev: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Which of B targets (B, A+1) a participation cap does not fill in full at day t."""
        if self.fill_cap is None:
            return torch.zeros(len(target), dtype=torch.bool, device=target.device)
        n = self.n_assets
        return ((target[:, :n] - w_prev[:, :n]).abs() > self.fill_cap[t] * (1 + 1e-9)).any(-1)

    # ---- the portfolio arithmetic -------------------------------------------------------
    def score(self, t: torch.Tensor, w_prev: torch.Tensor, candidates: torch.Tensor) -> Scored:
        """Hold each candidate target from t to t+1, trading from ``w_prev``.

        ``t``: (B,) decision days; ``w_prev``: (B, A+1); ``candidates``: (B, N, A+1),
        already on the simplex. N = 1 is the ordinary step.
        """
        relatives = self.relatives[t]  # (B, A+1)
        n = self.n_assets
        if self.masked or self.shortable is not None:
            w_prev, candidates = self.restrict(t, w_prev, candidates)
        candidates = self.fill(t, w_prev, candidates)
        assets, held = candidates[..., :n], w_prev[:, None, :n]
        impact = None
        if self.min_cost == 0 and self._uniform_cost and self.impact_scale is None:
            # L1 distance without materialising the (B, N, A) differences
            traded = torch.cdist(assets, held, p=1).squeeze(-1)
            cost = traded * self.cost_rate[0, 0]
        else:
            per_traded = (assets - held).abs_()
            traded = per_traded.sum(-1)
            per_asset = per_traded * self.cost_rate[t][:, None, :]
            if self.min_cost > 0:
                per_asset = torch.where(per_traded > MIN_FEE_TRADE,
                                        per_asset.clamp(min=self.min_cost), per_asset)
            cost = per_asset.sum(-1)
            if self.impact_scale is not None:
                impact = (per_traded.pow(1.5) * self.impact_scale[t][:, None, :]).sum(-1)
                cost = cost + impact
        turnover = (candidates[..., n] - w_prev[:, None, n]).abs_().add_(traded).mul_(0.5)
        none = torch.zeros_like(cost)
        impact = none if impact is None else impact
        if self.long_short:
            return self._score_book(t, relatives, candidates, turnover, cost, impact)
        gross = torch.bmm(candidates, relatives[..., None]).squeeze(-1)  # (B, N)
        factor = (1.0 - cost).mul_(gross)
        holdings = candidates * relatives[:, None, :]
        holdings /= gross[..., None]
        return Scored(turnover, cost, factor - 1.0, torch.log(factor), holdings, none, none,
                      torch.zeros_like(cost, dtype=torch.bool), impact)

    def _score_book(self, t: torch.Tensor, relatives: torch.Tensor, candidates: torch.Tensor,
                    turnover: torch.Tensor, cost: torch.Tensor, impact: torch.Tensor) -> Scored:
        """A long-short book's day (the module's equations): the carry of its shorts and
        its loan, and ruin where it loses all its wealth."""
        n = self.n_assets
        years = self.accrual[t][:, None]  # (B, 1)
        borrow = ((-candidates[..., :n]).clamp(min=0.0) * self.borrow_rate[t][:, None, :]).sum(-1) \
            * years
        loan = (-candidates[..., n]).clamp(min=0.0) + 0.0  # no -0.0 in the records
        financing = loan * self.financing_spread * years
        grown = candidates * relatives[:, None, :]
        after = grown.sum(-1) - borrow - financing
        ruined = (after <= 0.0) | (cost >= 1.0)
        safe = torch.where(ruined, 1.0, after)
        holdings = grown.clone()
        holdings[..., n] -= borrow + financing
        holdings = torch.where(ruined[..., None], _all_cash(holdings), holdings / safe[..., None])
        factor = (1.0 - cost) * after
        net = torch.where(ruined, -1.0, factor - 1.0)
        log = torch.log(torch.where(ruined, RUIN_FLOOR, factor.clamp(min=RUIN_FLOOR)))
        paid = 1.0 - cost
        return Scored(turnover, cost, net, log, holdings, borrow * paid, financing * paid, ruined,
                      impact)


def apply_no_trade_band(held: torch.Tensor, target: torch.Tensor, band: float, *,
                        signed: bool = False) -> torch.Tensor:
    """The target with every asset whose trade would be smaller than ``band`` (a share
    of wealth) left where it is held; the assets still traded and cash absorb the
    difference in proportion to their targets, so the weights still sum to one
    (``signed``, a long-short book: cash alone absorbs it).

    ``held``, ``target``: (..., A+1), the assets then cash.
    """
    if band <= 0:
        return target
    n = target.shape[-1] - 1
    keep = torch.zeros_like(target, dtype=torch.bool)
    keep[..., :n] = (target[..., :n] - held[..., :n]).abs() < band
    return (keep_in_cash if signed else keep_held)(held, target, keep)


def keep_held(held: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``target`` with the positions where ``keep`` is True left as ``held``; the others
    (cash never kept) scaled in proportion to fill the rest, or cash if they are all 0."""
    n = target.shape[-1] - 1
    kept = torch.where(keep, held, 0.0)
    moving = torch.where(keep, 0.0, target)
    room = 1.0 - kept.sum(-1, keepdim=True)
    total = moving.sum(-1, keepdim=True)
    cash = torch.zeros_like(target)
    cash[..., n] = 1.0
    # nothing left to move (all target weight was on kept assets): the room goes to cash
    moving = torch.where(total > 0, moving * room / total.clamp(min=1e-300), cash * room)
    return kept + moving


def keep_in_cash(held: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """A book's ``target`` with the positions where ``keep`` is True left as ``held``, the
    others as targeted, and cash what is left (signed weights are not rescaled)."""
    return with_cash(torch.where(keep, held, target)[..., :-1])


def _by_day_and_asset(values: float | Sequence[float] | np.ndarray, days: int,
                      n: int) -> np.ndarray | None:
    """One value, one per asset or one per day and asset, as (days, n); None for any
    other shape."""
    array = np.asarray(values, dtype=float)
    if array.shape in ((), (n,)):
        return np.broadcast_to(array, (days, n))
    return array if array.shape == (days, n) else None


def _all_cash(like: torch.Tensor) -> torch.Tensor:
    cash = torch.zeros_like(like)
    cash[..., -1] = 1.0
    return cash


def _checked(segments: Sequence[tuple[int, int]], n_days: int) -> list[tuple[int, int]]:
    """Segments as sorted, disjoint, in-range (start, end) day pairs."""
    spans = sorted((int(a), int(b)) for a, b in segments)
    for (a, b), following in zip(spans, spans[1:] + [(n_days, n_days)], strict=True):
        if not 0 <= a <= b < following[0]:
            raise DataError(f"segments must be disjoint day ranges inside 0..{n_days - 1}, "
                            f"got {spans}")
    return spans


def _segment_features(panel: MarketPanel, specs: Sequence[FeatureSpec | dict],
                      spans: list[tuple[int, int]]) -> Features:
    """The features of each segment from its own prices, missing between segments."""
    if spans == [(0, len(panel) - 1)]:
        return compute_features(panel, specs)
    parts = [compute_features(panel.slice(panel.dates[a], panel.dates[b]), specs)
             for a, b in spans]
    values = np.full((len(panel), panel.n_assets, parts[0].values.shape[-1]), np.nan)
    for (a, b), part in zip(spans, parts, strict=True):
        values[a:b + 1] = part.values
    return Features(values, panel.dates, parts[0].tickers, parts[0].names)


def _with_delistings(relatives: np.ndarray, listed: np.ndarray,
                     delisting_return: float) -> np.ndarray:
    """Asset relatives with no price on either side set to 1 (no position is held there)
    and ``1 + delisting_return`` into the day after a ticker's last price."""
    last = listed[:-1] & ~listed[1:]  # listed at t, gone at t+1
    out = np.where(np.isfinite(relatives), relatives, 1.0)
    out[last] = 1.0 + delisting_return
    return out


def project_simplex(values: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row onto the simplex {w >= 0, sum w = 1}, exactly:
    max(v - tau, 0) with tau from the sorted values (Held, Wolfe and Crowder, 1974)."""
    ordered = values.sort(-1, descending=True).values
    excess = ordered.cumsum(-1) - 1.0
    ranks = torch.arange(1, values.shape[-1] + 1, device=values.device, dtype=values.dtype)
    support = (ordered - excess / ranks > 0).sum(-1, keepdim=True)  # >= 1 always
    tau = excess.gather(-1, support - 1) / support.to(values.dtype)
    return (values - tau).clamp(min=0.0)


def project_capped_simplex(values: torch.Tensor, caps: torch.Tensor,
                           iterations: int = 100) -> torch.Tensor:
    """Euclidean projection of each row onto {w : 0 <= w <= caps, sum w = 1}.

    The projection is clamp(v - tau, 0, caps) for the tau that makes it sum to one;
    tau is found by bisection to machine precision.
    """
    lo = values.amin(-1, keepdim=True) - 1.0
    hi = values.amax(-1, keepdim=True)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        over = (values - mid).clamp(min=0.0).minimum(caps).sum(-1, keepdim=True) > 1.0
        lo = torch.where(over, mid, lo)
        hi = torch.where(over, hi, mid)
    weights = (values - (lo + hi) / 2).clamp(min=0.0).minimum(caps)
    return weights / weights.sum(-1, keepdim=True)
