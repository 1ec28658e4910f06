"""Environment specs (``envs/*.toml``): data, features, costs, reward, constraints, episodes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fin_hgrpo.config import load_spec
from fin_hgrpo.data import DEFAULT_FEATURES, FeatureSpec, MarketPanel, SyntheticMarket
from fin_hgrpo.data.borrow import MAX_BPS_YEAR, load_borrow_fees
from fin_hgrpo.data.membership import load_membership
from fin_hgrpo.data.rates import load_cash_rate
from fin_hgrpo.data.sources import load_source
from fin_hgrpo.data.spreads import edge_half_spreads
from fin_hgrpo.data.synthetic import synthetic_market
from fin_hgrpo.envs.book import Book
from fin_hgrpo.envs.feature_scaling import Scaling
from fin_hgrpo.envs.rewards import Penalty, Relative, Reward, RewardKind
from fin_hgrpo.envs.sim import ActionTransform, PortfolioSim
from fin_hgrpo.errors import DataError, SpecError


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Spec):
    """Where prices come from and which part of them the environment sees.

    ``source``: sample | csv:PATH | parquet:PATH | yfinance:T1,T2@START[:END][/INTERVAL] |
    synthetic:KIND. ``tickers``, ``start`` and ``end`` narrow any source.
    """

    source: str = "sample"
    tickers: list[str] | None = None
    start: date | None = None
    end: date | None = None
    align: Literal["inner", "ffill", "strict", "listed"] = "inner"
    ffill_limit: int = Field(default=5, ge=0)
    delisting_return: float = Field(default=0.0, ge=-1.0)  # align = "listed": the return
    # into the day after a ticker's last price (what holders received, against that price)
    membership: str | None = None  # align = "listed": a ticker,start,end file of members

    @model_validator(mode="after")
    def _membership_needs_listed(self) -> DataSpec:
        if self.membership is not None and self.align != "listed":
            raise ValueError('membership needs align = "listed"')
        return self
    cache_dir: str = "data/cache"
    offline: bool = False
    # synthetic markets only
    seed: int = 0
    n_assets: int = Field(default=5, ge=2)
    n_days: int = Field(default=2520, ge=2)
    annual_drift: list[float] | None = None  # iid and signal markets: set, not drawn
    annual_vol: list[float] | None = None


MAX_BPS = 1000.0  # 10% of each trade: beyond it wealth can go below zero in a day
MAX_CASH_RATE = 0.001  # a day's return of cash: 0.1% is about 29% a year


class CostSpec(_Spec):
    bps: float | list[float] = Field(default=10.0)  # proportional, one value or one per asset
    min_bps: float = Field(default=0.0, ge=0.0, le=MAX_BPS)  # minimum per traded asset
    # cash's return per bar, or a dated file of annual rates in percent (data.rates)
    cash_rate: float | str = 0.0
    # a spread estimated from the panel's OHLC bars over spread_days ("edge":
    # data.spreads), half of it paid on each trade on top of bps
    spread: Literal["edge"] | None = None
    spread_days: int = Field(default=21, ge=2)
    # a long-short book's carry, a year (accrued by calendar days): the fee to borrow
    # what it shorts (one value, a table of tickers with "default" for the rest, or a
    # dated file: data.borrow) and the spread over cash_rate it pays on borrowed cash
    borrow_bps_year: float | dict[str, float] | str = 0.0
    financing_spread_bps_year: float = Field(default=0.0, ge=0.0, le=10_000.0)
    # costs that grow with size (they need the panel's volume): square-root market
    # impact b sigma |trade|^1.5 (aum / dollar volume)^0.5, and a cap on each trade at
    # max_participation of the day's mean dollar volume; aum: the book's size, dollars
    impact: float = Field(default=0.0, ge=0.0, le=100.0)
    aum: float | None = Field(default=None, gt=0.0)
    impact_days: int = Field(default=63, ge=2)  # look-back of volatility and volume
    max_participation: float | None = Field(default=None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _size_needs_aum(self) -> CostSpec:
        if (self.impact or self.max_participation is not None) and self.aum is None:
            raise ValueError("impact and max_participation need aum, the portfolio's size "
                             "in dollars (the costs grow with it)")
        return self

    @field_validator("borrow_bps_year")
    @classmethod
    def _borrow_in_range(cls, fee: float | dict[str, float] | str
                         ) -> float | dict[str, float] | str:
        if isinstance(fee, str):
            return fee  # a dated file, read with the panel (data.borrow)
        for value in fee.values() if isinstance(fee, dict) else [fee]:
            if not 0.0 <= value <= MAX_BPS_YEAR:
                raise ValueError(f"a borrow fee of {value} bps a year is outside 0 .. 100000 "
                                 "(50 bps is 0.5% a year)")
        return fee

    @field_validator("bps")
    @classmethod
    def _bps_in_range(cls, bps: float | list[float]) -> float | list[float]:
        for value in bps if isinstance(bps, list) else [bps]:
            if not 0.0 <= value <= MAX_BPS:
                raise ValueError(f"a cost of {value} bps is outside 0 .. {MAX_BPS:g} bps of "
                                 "each trade (10 bps is 0.1%)")
        return bps

    @field_validator("cash_rate")
    @classmethod
    def _cash_rate_is_daily(cls, rate: float | str) -> float | str:
        if isinstance(rate, str):
            return rate  # a dated file, read with the panel (data.rates)
        if abs(rate) > MAX_CASH_RATE:
            raise ValueError(f"cash_rate is cash's return per day, not a year's or a "
                             f"percentage: {rate} is outside -{MAX_CASH_RATE} .. "
                             f"{MAX_CASH_RATE} (5% a year is {1.05 ** (1 / 252) - 1:.6f})")
        return rate


class RewardSpec(_Spec):
    kind: RewardKind = "log_return"
    eta: float = Field(default=0.01, gt=0.0, le=1.0)
    lam: float = Field(default=0.0, ge=0.0)
    penalty: Penalty = "variance"
    # "equal_weight": every kind scored on the return less 1/N's (envs.rewards)
    relative: Relative = "none"


class ConstraintSpec(_Spec):
    """Long-only (the default): weights on the simplex, each at most ``max_weight``.
    ``long_short = true``: a book of signed weights within ``min_weight .. max_weight``
    per asset (``bounds`` per ticker; only ``shortable`` tickers below zero, all by
    default; a file of ticker,start,end spells says when each may be shorted), net
    exposure within ``net`` and gross exposure at most ``gross_max``; cash is what is
    left (``envs.book``)."""

    max_weight: float = Field(default=1.0, gt=0.0)
    cash: bool = True
    action_transform: ActionTransform = "softmax"
    long_short: bool = False
    min_weight: float = Field(default=0.0, le=0.0)
    net: tuple[float, float] | None = None  # [net_min, net_max] of the assets' weights
    gross_max: float | None = Field(default=None, gt=0.0, le=10.0)
    shortable: list[str] | str | None = None  # tickers, or a ticker,start,end file
    bounds: dict[str, tuple[float, float]] = {}  # ticker: [lower, upper]

    @model_validator(mode="after")
    def _book_keys_need_long_short(self) -> ConstraintSpec:
        if not self.long_short:
            if self.max_weight > 1.0:
                raise ValueError("max_weight above 1 needs long_short = true (a long-only "
                                 "weight is at most the whole portfolio)")
            given = [key for key, unset in (("min_weight", 0.0), ("net", None),
                                            ("gross_max", None), ("shortable", None),
                                            ("bounds", {})) if getattr(self, key) != unset]
            if given:
                raise ValueError(f"{', '.join(given)} need long_short = true")
            return self
        if self.net is None or self.gross_max is None:
            raise ValueError("a long-short book needs its net = [min, max] and gross_max")
        if not self.cash:
            raise ValueError("a long-short book holds its short proceeds in cash: "
                             "cash = false cannot be")
        return self

    def book(self, tickers: list[str]) -> Book | None:
        """The long-short book over ``tickers``, or None for a long-only one."""
        if not self.long_short:
            return None
        listed = self.shortable if isinstance(self.shortable, list) else []
        for key, named in (("shortable", listed), ("bounds", self.bounds)):
            unknown = sorted(set(named) - set(tickers))
            if unknown:
                raise SpecError(f"key constraints.{key}: {', '.join(unknown)} not in the "
                                f"panel's tickers")
        # a dated file's spells are applied day by day (PortfolioSim's shortable)
        shortable = set(listed if isinstance(self.shortable, list) else tickers)
        lower = [self.min_weight if ticker in shortable else 0.0 for ticker in tickers]
        upper = [self.max_weight] * len(tickers)
        for k, ticker in enumerate(tickers):
            if ticker in self.bounds:
                lower[k], upper[k] = self.bounds[ticker]
        try:
            return Book(np.array(lower), np.array(upper), *self.net, self.gross_max)
        except DataError as exc:
            raise SpecError(f"key constraints: {exc}") from exc


class EpisodeSpec(_Spec):
    horizon: int = Field(default=252, ge=1)
    random_start: bool = True
    observation: Literal["flat", "dict"] = "flat"


class EnvSpec(_Spec):
    """One environment: market data plus the rules of the portfolio game."""

    data: DataSpec = DataSpec()
    features: list[FeatureSpec] = list(DEFAULT_FEATURES)
    window: int = Field(default=20, ge=1)
    normalize_features: bool = True
    # pooled: expanding over all assets; per_asset: forgetting (halflife days), winsorised
    feature_scaling: Scaling = "pooled"
    feature_halflife: int = Field(default=126, ge=1)
    periods_per_year: int | None = Field(default=None, ge=1)  # default: from the dates
    costs: CostSpec = CostSpec()
    reward: RewardSpec = RewardSpec()
    constraints: ConstraintSpec = ConstraintSpec()
    episode: EpisodeSpec = EpisodeSpec()

    @model_validator(mode="after")
    def _carry_needs_a_book(self) -> EnvSpec:
        costs = self.costs
        fee = costs.borrow_bps_year
        if not self.constraints.long_short and (costs.financing_spread_bps_year or (
                any(fee.values()) if isinstance(fee, dict) else fee)):
            raise ValueError("costs.borrow_bps_year and financing_spread_bps_year need "
                             "constraints.long_short = true: a long-only book never "
                             "shorts or borrows")
        return self

    @classmethod
    def load(cls, path: str | Path) -> EnvSpec:
        return load_spec(path, cls)

    def long_only(self) -> EnvSpec:
        """This spec with a long-only book and flat costs: how a reference outside the
        book's universe (a one-asset benchmark, an ETF the size of a market) is held."""
        if not self.constraints.long_short and not self.costs.impact and \
                self.costs.max_participation is None and self.costs.spread is None:
            return self
        costs = self.costs.model_copy(update={"borrow_bps_year": 0.0,
                                              "financing_spread_bps_year": 0.0,
                                              "impact": 0.0, "max_participation": None,
                                              "spread": None})
        return self.model_copy(update={"constraints": ConstraintSpec(), "costs": costs})

    def for_reference(self) -> EnvSpec:
        """How a reference outside the book's universe (a one-asset benchmark) is held:
        long-only at flat costs (``long_only``), and reading one daily return, so that
        it can be bought from its second day of data whatever look-back the agents'
        features need (a reference decides from prices, not from features)."""
        return self.long_only().model_copy(update={
            "features": [FeatureSpec(name="log_return")], "window": 1})

    def load_market(self) -> MarketPanel | SyntheticMarket:
        """The panel, or for synthetic sources the market with its ground truth (over
        all its assets: with ``data.tickers`` narrowing it, there is none to give)."""
        if self._synthetic() and self.data.tickers:
            raise SpecError(f"key data.tickers: a synthetic market's known optimum is over "
                            f"all its {self.data.n_assets} assets; narrow it with n_assets, "
                            "or read the narrowed panel (load_panel)")
        return self._load()

    def load_panel(self) -> MarketPanel:
        """The panel: the source narrowed to the spec's tickers and dates."""
        market = self._load()
        if not isinstance(market, SyntheticMarket):
            return market
        panel = market.panel.select(self.data.tickers) if self.data.tickers else market.panel
        if self.data.start or self.data.end:
            panel = panel.slice(self.data.start, self.data.end)
        return panel

    def _synthetic(self) -> bool:
        return self.data.source.partition(":")[0] == "synthetic"

    def _load(self) -> MarketPanel | SyntheticMarket:
        d = self.data
        kind, _, rest = d.source.partition(":")
        if kind == "synthetic":
            return synthetic_market(rest, n_assets=d.n_assets, n_days=d.n_days, seed=d.seed,
                                    annual_drift=d.annual_drift, annual_vol=d.annual_vol)
        return load_source(d.source, tickers=d.tickers, start=d.start, end=d.end,
                           align=d.align, ffill_limit=d.ffill_limit, cache_dir=d.cache_dir,
                           offline=d.offline)

    def load_tickers(self, tickers: list[str]) -> MarketPanel:
        """The spec's source asked for ``tickers`` (another universe: a benchmark)."""
        data = self.data.model_copy(update={"tickers": list(tickers)})
        return self.model_copy(update={"data": data}).load_panel()

    def files(self) -> list[str]:
        """The files this spec reads besides itself: a price file, a membership file."""
        kind, _, rest = self.data.source.partition(":")
        found = [rest] if kind in ("csv", "parquet") else []
        dated = [self.costs.borrow_bps_year, self.constraints.shortable, self.costs.cash_rate]
        return found + ([self.data.membership] if self.data.membership else []) + \
            [name for name in dated if isinstance(name, str)]

    def periods(self, panel: MarketPanel) -> int:
        """Bars per year for annualised figures: the spec's, else the panel's calendar."""
        return self.periods_per_year or panel.periods_per_year

    def build_sim(self, panel: MarketPanel | None = None, *, dtype: torch.dtype = torch.float64,
                  device: str = "cpu",
                  segments: list[tuple[int, int]] | None = None) -> PortfolioSim:
        """The simulator over ``panel`` (default: the spec's); ``segments``, day ranges
        of it a training sim may read (``PortfolioSim``)."""
        panel = panel if panel is not None else self.load_panel()
        return PortfolioSim(
            panel,
            features=self.features, window=self.window, cost_bps=self.cost_bps(panel),
            min_cost_bps=self.costs.min_bps, cash_rate=self._cash_per_bar(panel),
            max_weight=self.constraints.max_weight, allow_cash=self.constraints.cash,
            action_transform=self.constraints.action_transform,
            normalize_features=self.normalize_features,
            feature_scaling=self.feature_scaling, feature_halflife=self.feature_halflife,
            dtype=dtype, device=device,
            tradable_feature=self.data.align == "listed",
            delisting_return=self.data.delisting_return, members=self._members(panel),
            segments=segments, book=self.constraints.book(panel.tickers),
            shortable=self._shortable(panel),
            borrow_bps_year=self._borrow(panel),
            financing_spread_bps_year=self.costs.financing_spread_bps_year,
            impact=self.costs.impact, aum=self.costs.aum, impact_days=self.costs.impact_days,
            max_participation=self.costs.max_participation,
        )

    def cost_bps(self, panel: MarketPanel) -> float | list[float] | np.ndarray:
        """Each trade's proportional cost in bps: ``bps``, plus half the estimated
        spread per day and ticker when ``spread`` is set."""
        bps = self.costs.bps
        if self.costs.spread is None:
            return bps
        return np.asarray(bps, dtype=float) + 1e4 * edge_half_spreads(
            panel, self.costs.spread_days).to_numpy()

    def cash_returns(self, panel: MarketPanel) -> float | pd.Series:
        """What cash earned over each bar, labelled by its end as the returns are: the
        spec's one rate, or a dated file's (the ``rf`` excess returns are measured over)."""
        rate = self.costs.cash_rate
        return load_cash_rate(rate, panel.dates) if isinstance(rate, str) else rate

    def _cash_per_bar(self, panel: MarketPanel) -> float | np.ndarray:
        rate = self.cash_returns(panel)
        return rate.to_numpy() if isinstance(rate, pd.Series) else rate

    def _shortable(self, panel: MarketPanel) -> pd.DataFrame | None:
        """Dates x tickers: where each may be shorted, from a dated shortable file."""
        spells = self.constraints.shortable
        if not self.constraints.long_short or not isinstance(spells, str):
            return None
        return load_membership(spells, panel.dates, panel.tickers, what="shortable")

    def _borrow(self, panel: MarketPanel) -> list[float] | np.ndarray:
        """Each ticker's borrow fee a year, in bps (per day and ticker from a file)."""
        fee, tickers = self.costs.borrow_bps_year, list(panel.tickers)
        if isinstance(fee, str):
            return load_borrow_fees(fee, panel.dates, tickers)
        if not isinstance(fee, dict):
            return [fee] * len(tickers)
        unknown = sorted(set(fee) - set(tickers) - {"default"})
        if unknown:
            raise SpecError(f"key costs.borrow_bps_year: {', '.join(unknown)} not in the "
                            f"panel's tickers")
        return [fee.get(ticker, fee.get("default", 0.0)) for ticker in tickers]

    def _members(self, panel: MarketPanel) -> pd.DataFrame | None:
        if self.data.membership is None:
            return None
        return load_membership(self.data.membership, panel.dates, panel.tickers)

    def build_reward(self) -> Reward:
        r = self.reward
        return Reward(r.kind, eta=r.eta, lam=r.lam, penalty=r.penalty, relative=r.relative)
