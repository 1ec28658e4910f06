"""MarketPanel: the one aligned, validated, immutable view of market data the rest reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

from fin_hgrpo.data.calendar import check_calendar, periods_per_year
from fin_hgrpo.data.formats import to_fields
from fin_hgrpo.data.validation import (
    FIELDS,
    Align,
    AlignmentReport,
    check_dates,
    check_history,
    check_values,
    parse_dates,
)
from fin_hgrpo.data.validation import align as align_fields
from fin_hgrpo.errors import DataError

CASH = "cash"  # the cash position's name in every table of weights (after the tickers)


def _frozen(frame: pd.DataFrame) -> np.ndarray:
    values = np.array(frame.to_numpy(dtype=np.float64), copy=True)
    values.flags.writeable = False
    return values


class MarketPanel:
    """Aligned daily market data: trading dates x tickers, one array per field.

    Dates are tz-naive, unique and strictly increasing; every ticker has a positive,
    finite adjusted close on every date. ``open``, ``high``, ``low``, ``close`` and
    ``volume`` are present where the source had them. ``signals`` holds optional
    observable series per date (e.g. a synthetic market's predictive signal).
    The panel never changes: every accessor returns a fresh copy.
    """

    __slots__ = ("_dates", "_tickers", "_fields", "_signals", "_tradable", "report", "source")

    def __init__(
        self,
        adj_close: pd.DataFrame,
        *,
        fields: Mapping[str, pd.DataFrame] | None = None,
        signals: pd.DataFrame | None = None,
        report: AlignmentReport | None = None,
        source: str = "memory",
        tradable: pd.DataFrame | None = None,
    ) -> None:
        dates = parse_dates(adj_close.index, source)
        check_dates(dates, source)
        check_calendar(dates, source)
        if len(dates) == 0:
            raise DataError(f"{source}: the panel has no dates")
        tickers = tuple(str(t) for t in adj_close.columns)
        if len(set(tickers)) != len(tickers) or not tickers:
            raise DataError(f"{source}: tickers must be unique and non-empty, got {tickers}")
        arrays = _field_frames(adj_close, fields or {}, source)
        listed = _listed(adj_close, tradable, source)
        for name, frame in arrays.items():
            arrays[name] = _checked_field(name, frame, dates, tickers, listed, source)
        self._dates = dates
        self._tickers = tickers
        self._fields = {name: _frozen(frame) for name, frame in arrays.items()}
        self._signals = _checked_signals(signals, adj_close.index, dates, source)
        self._tradable = None if tradable is None else np.array(tradable, dtype=bool)
        if self._tradable is not None:
            self._tradable.flags.writeable = False
        self.report = report or AlignmentReport()
        self.source = source

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        tickers: Iterable[str] | None = None,
        start: object = None,
        end: object = None,
        align: Align = "inner",
        ffill_limit: int = 5,
        source: str = "frame",
    ) -> MarketPanel:
        """Build a panel from a long, wide or yfinance-layout frame (detected).

        ``tickers`` picks columns, ``start``/``end`` (inclusive) pick dates before
        alignment; ``align`` is the policy for missing prices (see ``validation.align``).
        """
        fields, notes = to_fields(frame, source)
        if tickers is not None:
            wanted = [str(t) for t in tickers]
            unknown = [t for t in wanted if t not in fields["adj_close"].columns]
            if unknown:
                raise DataError(f"{source}: unknown tickers {unknown}; available: "
                                f"{list(fields['adj_close'].columns)}")
            fields = {name: f[wanted] for name, f in fields.items()}
        start, end = _timestamp(start), _timestamp(end)
        if start is not None and end is not None and start > end:
            raise DataError(f"{source}: start {start.date()} is after end {end.date()}")
        covered = fields["adj_close"].index
        fields = {name: f.loc[start:end] for name, f in fields.items()}
        if fields["adj_close"].empty and len(covered):
            raise DataError(f"{source}: no dates between {_day(start)} and {_day(end)}; the "
                            f"data covers {covered[0].date()} .. {covered[-1].date()}")
        for name, f in fields.items():
            check_values(name, f, source)
        check_history(fields["adj_close"], start, source, align)
        aligned, report, tradable = align_fields(fields, source, align, ffill_limit,
                                                 tuple(notes))
        prices = aligned.pop("adj_close")
        return cls(prices, fields=aligned, report=report, source=source, tradable=tradable)

    # ---- accessors ----------------------------------------------------------------------
    @property
    def dates(self) -> pd.DatetimeIndex:
        return self._dates

    @property
    def tickers(self) -> tuple[str, ...]:
        return self._tickers

    @property
    def n_assets(self) -> int:
        return len(self._tickers)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    @property
    def tradable(self) -> pd.DataFrame:
        """Dates x tickers: whether the ticker has a price of its own that day (listed
        and not halted). All True for a panel aligned without gaps."""
        values = (np.ones((len(self._dates), len(self._tickers)), bool)
                  if self._tradable is None else self._tradable.copy())
        return pd.DataFrame(values, index=self._dates,
                            columns=pd.Index(self._tickers, name="ticker"))

    @property
    def has_gaps(self) -> bool:
        """Whether some ticker is untradable on some date (a point-in-time universe)."""
        return self._tradable is not None and not bool(self._tradable.all())

    @property
    def periods_per_year(self) -> int:
        """Bars per year, from the dates (``calendar.periods_per_year``): what every
        annualised figure of this panel's returns uses."""
        return periods_per_year(self.dates)

    def __len__(self) -> int:
        return len(self._dates)

    def field(self, name: str) -> pd.DataFrame:
        """One field (dates x tickers) as a new DataFrame."""
        if name not in self._fields:
            raise DataError(f"{self.source}: no field {name!r}; this panel has {self.fields}")
        return pd.DataFrame(self._fields[name].copy(), index=self._dates,
                            columns=pd.Index(self._tickers, name="ticker"))

    @property
    def prices(self) -> pd.DataFrame:
        """Adjusted close, dates x tickers."""
        return self.field("adj_close")

    @property
    def signals(self) -> pd.DataFrame | None:
        return None if self._signals is None else self._signals.copy()

    def price_array(self) -> np.ndarray:
        """Adjusted close as a read-only (dates, tickers) float64 array, no copy."""
        return self._fields["adj_close"]

    def returns(self, kind: Literal["simple", "log"] = "simple") -> pd.DataFrame:
        """Returns from each date to the next; the first date has none and is left out."""
        prices = self._fields["adj_close"]
        relatives = prices[1:] / prices[:-1]
        if kind == "simple":
            values = relatives - 1.0
        elif kind == "log":
            values = np.log(relatives)
        else:
            raise ValueError(f"kind must be 'simple' or 'log', got {kind!r}")
        return pd.DataFrame(values, index=self._dates[1:],
                            columns=pd.Index(self._tickers, name="ticker"))

    # ---- views --------------------------------------------------------------------------
    def slice(self, start: object = None, end: object = None) -> MarketPanel:
        """The dates from ``start`` to ``end``, both inclusive."""
        lo, hi = self._dates.slice_locs(_timestamp(start), _timestamp(end))
        if hi <= lo:
            raise DataError(f"{self.source}: no dates between {start} and {end} "
                            f"(panel covers {self._dates[0].date()} .. {self._dates[-1].date()})")
        return self._take(slice(lo, hi), list(range(self.n_assets)))

    def select(self, tickers: Iterable[str]) -> MarketPanel:
        """The given tickers, in the given order."""
        wanted = [str(t) for t in tickers]
        unknown = [t for t in wanted if t not in self._tickers]
        if unknown:
            raise DataError(f"{self.source}: unknown tickers {unknown}; "
                            f"available: {list(self._tickers)}")
        return self._take(slice(None), [self._tickers.index(t) for t in wanted])

    def _take(self, rows: slice, cols: list[int]) -> MarketPanel:
        dates = self._dates[rows]
        tickers = [self._tickers[c] for c in cols]
        frames = {
            name: pd.DataFrame(values[rows][:, cols], index=dates, columns=tickers)
            for name, values in self._fields.items()
        }
        signals = None if self._signals is None else self._signals.iloc[rows]
        tradable = None if self._tradable is None else pd.DataFrame(
            self._tradable[rows][:, cols], index=dates, columns=tickers)
        return MarketPanel(frames.pop("adj_close"), fields=frames, signals=signals,
                           report=self.report, source=self.source, tradable=tradable)

    # ---- conversion ---------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Long format: a (date, ticker) index and one column per field."""
        index = pd.MultiIndex.from_product([self._dates, self._tickers], names=["date", "ticker"])
        return pd.DataFrame({name: values.reshape(-1) for name, values in self._fields.items()},
                            index=index)

    def equals(self, other: MarketPanel) -> bool:
        """Same dates, tickers, fields and values (reports and sources are not compared)."""
        return (
            self._dates.equals(other._dates)
            and self._tickers == other._tickers
            and self._fields.keys() == other._fields.keys()
            and all(np.array_equal(v, other._fields[k]) for k, v in self._fields.items())
        )

    def __repr__(self) -> str:
        shown = ", ".join(self._tickers[:8]) + (", ..." if self.n_assets > 8 else "")
        return (f"MarketPanel({self.n_assets} assets [{shown}], "
                f"{self._dates[0].date()} .. {self._dates[-1].date()}, {len(self)} rows, "
                f"source={self.source})")


def _field_frames(adj_close: pd.DataFrame, fields: Mapping[str, pd.DataFrame],
                  source: str) -> dict[str, pd.DataFrame]:
    """The adjusted close and the other fields, each of its shape."""
    arrays = {"adj_close": adj_close}
    for name, frame in fields.items():
        if name not in FIELDS:
            raise DataError(f"{source}: unknown field {name!r}; expected one of {FIELDS}")
        if frame.shape != adj_close.shape:
            raise DataError(f"{source}: field {name} has shape {frame.shape}, "
                            f"adj_close has {adj_close.shape}")
        arrays[name] = frame
    return arrays


def _listed(adj_close: pd.DataFrame, tradable: pd.DataFrame | None,
            source: str) -> np.ndarray | None:
    """Where a point-in-time panel has prices (None for a complete one); a tradable mask
    may only mark dates with a price."""
    if tradable is None:
        return None
    mask = tradable.to_numpy(dtype=bool)
    if mask.shape != adj_close.shape:
        raise DataError(f"{source}: the tradable mask has shape {mask.shape}, "
                        f"adj_close has {adj_close.shape}")
    listed = adj_close.notna().to_numpy()
    if (mask & ~listed).any():
        raise DataError(f"{source}: a ticker is marked tradable on a date without a price")
    return listed


def _checked_field(name: str, frame: pd.DataFrame, dates: pd.DatetimeIndex,
                   tickers: tuple[str, ...], listed: np.ndarray | None,
                   source: str) -> pd.DataFrame:
    """A field on the panel's dates and tickers, its values valid and complete (while
    listed, in a point-in-time panel)."""
    frame = pd.DataFrame(frame.to_numpy(dtype=float), index=dates, columns=tickers)
    check_values(name, frame, source)
    missing = frame.isna().to_numpy()
    if listed is not None:
        missing = missing & listed  # outside its listing a ticker has no values
    if missing.any():
        row, col = (int(i[0]) for i in np.nonzero(missing))
        raise DataError(f"{source}: missing {name} for ticker {tickers[col]} on "
                        f"{dates[row].date()}; align the data first")
    return frame


def _checked_signals(signals: pd.DataFrame | None, index: pd.Index, dates: pd.DatetimeIndex,
                     source: str) -> pd.DataFrame | None:
    if signals is None:
        return None
    if not signals.index.equals(index):
        raise DataError(f"{source}: signals must have the same dates as the prices")
    if not np.isfinite(signals.to_numpy(dtype=float)).all():
        raise DataError(f"{source}: signals must be finite")
    signals = signals.astype(float).copy()
    signals.index = dates
    return signals


def _day(value: pd.Timestamp | None) -> str:
    return "its first date" if value is None else str(value.date())


def _timestamp(value: object) -> pd.Timestamp | None:
    """Dates given as strings, date or datetime objects, as pandas Timestamps."""
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"not a date: {value!r}") from None
