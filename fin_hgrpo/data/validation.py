"""Checks that market data can be trusted, and the explicit policy for missing prices.

Every error names the source (file or loader), the ticker and the date at fault.
Prices are never invented silently: alignment either drops dates or forward-fills
short gaps up to a limit, and reports what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from fin_hgrpo.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")
FIELDS = (*PRICE_FIELDS, "volume")

Align = Literal["inner", "ffill", "strict", "listed"]
ALIGN_POLICIES: tuple[str, ...] = ("inner", "ffill", "strict", "listed")

# A requested start may fall on a weekend or a run of holidays.
_START_GRACE = pd.Timedelta(days=7)


@dataclass(frozen=True)
class AlignmentReport:
    """What alignment did to the raw data: dates dropped, cells forward-filled."""

    policy: str = "strict"
    dropped: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    filled: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def n_dropped(self) -> int:
        return len(self.dropped)

    @property
    def n_filled(self) -> int:
        return sum(self.filled.values())

    def summary(self) -> str:
        parts = [f"align={self.policy}"]
        if self.n_dropped:
            parts.append(
                f"dropped {self.n_dropped} dates "
                f"({self.dropped[0].date()} .. {self.dropped[-1].date()})"
            )
        if self.filled:
            cells = ", ".join(f"{t}: {n}" for t, n in self.filled.items())
            parts.append(f"forward-filled {self.n_filled} cells ({cells})")
        parts.extend(self.notes)
        return "; ".join(parts)


def parse_dates(values: object, source: str) -> pd.DatetimeIndex:
    """Parse trading dates; refuse tz-aware, mixed or unparseable values."""
    if isinstance(values, pd.DatetimeIndex):
        index = values
    else:
        raw = pd.Index(values)
        text = pd.Index([], dtype=str) if pd.api.types.is_datetime64_any_dtype(raw) \
            else raw.unique().astype(str)  # day-first text is text, never parsed dates
        day_first = text[text.str.match(r"^(1[3-9]|2\d|3[01])[/.-]\d{1,2}[/.-]\d{4}")]
        if len(day_first):
            raise DataError(f"{source}: dates are day first ({day_first[0]}), which reads "
                            "ambiguously (01/02 is 1 Feb or 2 Jan); give them as YYYY-MM-DD")
        try:
            index = pd.DatetimeIndex(pd.to_datetime(raw, format="mixed"))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{source}: dates could not be parsed ({exc})") from None
    if index.tz is not None:
        raise DataError(
            f"{source}: dates are tz-aware ({index.tz}); trading dates must be tz-naive "
            "(convert with index.tz_localize(None))"
        )
    if index.hasnans:
        position = int(np.flatnonzero(index.isna())[0])
        raise DataError(f"{source}: missing date at row {position}")
    return index.rename("date")


def check_dates(index: pd.DatetimeIndex, source: str, ticker: str | None = None) -> None:
    """Dates must be unique and strictly increasing."""
    where = f"{source}, ticker {ticker}" if ticker else source
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise DataError(f"{where}: duplicate date {duplicated[0].date()}")
    if not index.is_monotonic_increasing:
        position = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 1
        raise DataError(
            f"{where}: dates are not sorted: {index[position].date()} "
            f"comes after {index[position - 1].date()}"
        )


def check_values(name: str, frame: pd.DataFrame, source: str) -> None:
    """Prices must be positive and finite where present; volume finite and non-negative."""
    values = frame.to_numpy(dtype=float)
    present = ~np.isnan(values)
    bad = present & ~np.isfinite(values)
    problem = "non-finite"
    if not bad.any():
        bad = present & ((values <= 0) if name != "volume" else (values < 0))
        problem = "non-positive" if name != "volume" else "negative"
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"{source}: {problem} {name} {float(values[row, col])!r} for ticker "
            f"{frame.columns[col]} on {frame.index[row].date()}"
        )


def check_history(adj_close: pd.DataFrame, start: object, source: str,
                  policy: Align = "inner") -> None:
    """Each ticker needs prices, and prices from the requested start if one was given,
    unless the universe is point-in-time (``listed``): there a ticker listed after the
    start enters when it lists."""
    for ticker in adj_close.columns:
        first = adj_close[ticker].first_valid_index()
        if first is None:
            raise DataError(f"{source}: no prices for ticker {ticker}")
        if policy != "listed" and start is not None and \
                first > pd.Timestamp(start) + _START_GRACE:
            raise DataError(
                f"{source}: ticker {ticker} has too little history for the request: "
                f"first price on {first.date()}, requested start {pd.Timestamp(start).date()}"
            )


def align(
    fields: dict[str, pd.DataFrame],
    source: str,
    policy: Align = "inner",
    ffill_limit: int = 5,
    notes: tuple[str, ...] = (),
) -> tuple[dict[str, pd.DataFrame], AlignmentReport, pd.DataFrame | None]:
    """Make every field complete on one set of dates by the caller's policy.

    - ``strict``: any missing adjusted close is an error naming ticker and date.
    - ``inner``: keep only the dates on which every ticker has a price.
    - ``ffill``: carry the last price forward over gaps of at most ``ffill_limit``
      days (never before a ticker's first price), then keep only complete dates.
    - ``listed``: a point-in-time universe. Keep every date on which some ticker has a
      price; a ticker is listed from its first price to its last, with no price (NaN)
      outside; a gap inside its listing is a halt, which holds the last price and is
      not tradable. The third value returned is the tradable mask (dates x tickers:
      a price of its own that day); None for the other policies.

    Optional fields (open, high, ..., volume) follow the rows chosen for the adjusted
    close; one still incomplete after that is left out and noted in the report,
    after the caller's own ``notes`` on how the data was read.
    """
    if policy not in ALIGN_POLICIES:
        raise DataError(f"{source}: unknown align policy {policy!r}; use one of {ALIGN_POLICIES}")
    if policy == "listed":
        return _listed(fields, source, notes)
    return _complete(fields, source, policy, ffill_limit, notes)


def _complete(fields: dict[str, pd.DataFrame], source: str, policy: Align, ffill_limit: int,
              notes: tuple[str, ...]
              ) -> tuple[dict[str, pd.DataFrame], AlignmentReport, None]:
    """The ``strict``, ``inner`` and ``ffill`` policies (see ``align``)."""
    prices = fields["adj_close"]
    missing = prices.isna().to_numpy()
    filled: dict[str, int] = {}
    if policy == "strict" and missing.any():
        row, col = (int(i[0]) for i in np.nonzero(missing))
        raise DataError(
            f"{source}: missing adj_close for ticker {prices.columns[col]} on "
            f"{prices.index[row].date()} (choose align='inner' or 'ffill' to handle gaps)"
        )
    if policy == "ffill" and ffill_limit > 0:
        was_filled = prices.isna() & prices.ffill(limit=ffill_limit).notna()
        fields = {
            # Nothing traded on a filled day: its volume is zero, not yesterday's.
            name: frame.mask(was_filled & frame.isna(), 0.0)
            if name == "volume"
            else frame.ffill(limit=ffill_limit)
            for name, frame in fields.items()
        }
        counts = was_filled.to_numpy().sum(axis=0)
        filled = {str(t): int(n) for t, n in zip(prices.columns, counts, strict=True) if n}
        missing = fields["adj_close"].isna().to_numpy()
    keep = ~missing.any(axis=1)
    dropped = prices.index[~keep]
    out = {"adj_close": fields["adj_close"].loc[keep]}
    notes = list(notes)
    for name, frame in fields.items():
        if name == "adj_close":
            continue
        kept = frame.loc[keep]
        if kept.isna().to_numpy().any():
            notes.append(f"{name} left out: incomplete on the kept dates")
        else:
            out[name] = kept
    if out["adj_close"].empty:
        raise DataError(f"{source}: no dates on which all tickers have a price")
    return out, AlignmentReport(policy, dropped, filled, tuple(notes)), None


def _listed(fields: dict[str, pd.DataFrame], source: str, notes: tuple[str, ...]
            ) -> tuple[dict[str, pd.DataFrame], AlignmentReport, pd.DataFrame]:
    """The ``listed`` policy (see ``align``)."""
    prices = fields["adj_close"]
    present = prices.notna()
    inside = prices.ffill().notna() & prices.bfill().notna()  # first .. last price
    keep = inside.any(axis=1).to_numpy()
    halted = inside & ~present
    out, notes = {}, list(notes)
    for name, frame in fields.items():
        # nothing traded on a halted day; prices hold their last value
        frame = frame.mask(halted, 0.0) if name == "volume" else frame.ffill().where(inside)
        frame = frame.loc[keep]
        if name != "adj_close" and frame.isna().to_numpy()[inside.loc[keep].to_numpy()].any():
            notes.append(f"{name} left out: incomplete while listed")
            continue
        out[name] = frame
    counts = halted.to_numpy().sum(axis=0)
    filled = {str(t): int(n) for t, n in zip(prices.columns, counts, strict=True) if n}
    report = AlignmentReport("listed", prices.index[~keep], filled, tuple(notes))
    return out, report, present.loc[keep]


JUMP = float(np.log(3.0))  # a day's move beyond x3 or /3: a unit change or a bad tick
SPIKE = 0.4  # a move beyond ~50% that the next day takes back: a bad tick
SHOWN_MOVES = 5


def suspicious_moves(prices: pd.DataFrame) -> list[str]:
    """Warnings for price moves a careful reader checks before trusting any figure: a
    one-day move that the next day reverses (a bad tick), or a jump beyond x3 (a split
    or unit change left unadjusted). Each names the ticker and the date."""
    logs = np.log(prices.astype(float)).diff()
    found = []
    for ticker in logs.columns:
        moves = logs[ticker].to_numpy()
        after = np.append(moves[1:], np.nan)
        spikes = (np.abs(moves) > SPIKE) & (np.abs(moves + after) < SPIKE / 4)
        for i in np.flatnonzero(spikes | (np.abs(moves) > JUMP)):
            date = logs.index[i].date()
            if spikes[i]:
                found.append(f"{ticker}: price x{np.exp(moves[i]):.3g} on {date} and back the "
                             "next day: a bad tick?")
            elif i == 0 or not spikes[i - 1]:  # the way back from a spike is not news
                found.append(f"{ticker}: price x{np.exp(moves[i]):.3g} on {date}: an "
                             "unadjusted split or a change of units?")
    found += stale_prices(prices)
    if len(found) > SHOWN_MOVES:
        found = found[:SHOWN_MOVES] + [f"and {len(found) - SHOWN_MOVES} more such moves"]
    return found


STALE_BARS = 20  # a price unchanged this many bars in a row: a stale or filled feed


def stale_prices(prices: pd.DataFrame) -> list[str]:
    """A warning for each ticker whose price stays exactly the same for ``STALE_BARS``
    bars or more (a feed that stopped, or a fill): its returns are zeros, not prices."""
    found = []
    for ticker in prices.columns:
        values = prices[ticker].to_numpy(dtype=float)
        same = np.r_[False, values[1:] == values[:-1]]  # unchanged from the bar before
        starts = np.flatnonzero(np.diff(np.r_[0, same.astype(int)]) == 1)
        ends = np.flatnonzero(np.diff(np.r_[same.astype(int), 0]) == -1)
        for start, end in zip(starts, ends, strict=True):
            if end - start + 1 >= STALE_BARS:
                found.append(f"{ticker}: price unchanged for {end - start + 1} bars from "
                             f"{prices.index[start - 1].date()} to {prices.index[end].date()}: "
                             "a stale feed?")
                break
    return found
