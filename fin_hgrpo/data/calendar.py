"""Calendar logic: how many bars make a year, and which days a portfolio rebalances on.

Every annualised figure (CAGR, volatility, Sharpe, turnover per year) needs the bars per
year, and 252 is right only for daily bars of an exchange: crypto trades 365 days,
weekly bars are 52 a year, monthly 12, and intraday bars are bars per session times
sessions per year, so it is read from a panel's own dates.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from fin_hgrpo.errors import DataError

# how often a strategy trades: every bar, the first bar of each week or month, or every
# N bars (an int)
Rebalance = Literal["daily", "weekly", "monthly"] | Annotated[int, Field(ge=1)]

KNOWN = (252, 365, 52, 12, 4, 1)  # exchange days, calendar days, weeks, months, quarters
_SNAP = 0.06  # an estimate within 6% of a known frequency is that frequency
DEFAULT = 252


def to_date(value: object, what: str) -> pd.Timestamp:
    """``value`` (text, a date) as a date: refused, naming ``what``, when it is blank, not
    a date, or carries a time zone (every panel's dates are exchange dates without one)."""
    text = str(value).strip()
    try:
        date = pd.Timestamp(text) if text else None
    except ValueError:
        date = None
    if date is None or pd.isna(date):
        raise DataError(f"{what}: {value!r} is not a date (give YYYY-MM-DD)")
    if date.tzinfo is not None:
        raise DataError(f"{what}: {value!r} has a time zone; dates here are exchange dates "
                        "without one (give YYYY-MM-DD)")
    return date


def periods_per_year(dates: pd.DatetimeIndex) -> int:
    """Bars per year of ``dates``: one of 252, 365, 52, 12, 4, 1 when the spacing says so
    (holidays and a short history are within tolerance), otherwise the measured rate;
    intraday bars count the median bars per session times 252 sessions (365 when the
    dates include weekends). Fewer than three dates: 252."""
    if len(dates) < 3:
        return DEFAULT
    days = dates.normalize()
    weekends = bool((dates.day_of_week >= 5).any())
    if days.has_duplicates:  # several bars a day: intraday
        per_session = float(np.median(pd.Series(1, index=days).groupby(level=0).size()))
        return int(round(per_session * (365 if weekends else DEFAULT)))
    span_years = (dates[-1] - dates[0]).days / 365.25
    rate = (len(dates) - 1) / span_years
    for known in KNOWN:
        if abs(rate / known - 1.0) <= _SNAP:
            return known
    return max(1, int(round(rate)))


MAX_GAP_BARS = 10  # a gap longer than this many typical bars (and a month) is an error
MIN_GAP_DAYS = 31
MAX_YEAR_RATIO = 1.5  # complete years whose bar counts differ more than this: mixed data


def check_calendar(dates: pd.DatetimeIndex, source: str) -> None:
    """Refuse dates no single bars-per-year describes: a gap far beyond the usual spacing
    (a mistyped date: 2099 for 2024), or complete calendar years with very different bar
    counts (weekly rows, then daily). Either would annualise every figure wrongly."""
    days = dates.normalize()
    if len(dates) < 20 or days.has_duplicates:  # short, or intraday
        return
    gaps = np.diff(days.to_numpy()) / np.timedelta64(1, "D")
    usual = float(np.median(gaps))
    widest = int(np.argmax(gaps))
    if gaps[widest] > max(MAX_GAP_BARS * usual, MIN_GAP_DAYS):
        raise DataError(f"{source}: a gap of {gaps[widest]:,.0f} days from "
                        f"{dates[widest].date()} to {dates[widest + 1].date()}, where bars "
                        f"are usually {usual:g} days apart: a mistyped date, or missing data")
    years = pd.Series(1, index=dates.year).groupby(level=0).size().iloc[1:-1]  # complete
    if len(years) >= 2 and years.max() > MAX_YEAR_RATIO * years.min():
        raise DataError(f"{source}: the bars change frequency: {years.min()} in "
                        f"{years.idxmin()}, {years.max()} in {years.idxmax()}; every annualised "
                        "figure needs one bars-per-year (resample to one frequency, or start "
                        "after the change)")


def rebalance_days(dates: pd.DatetimeIndex, frequency: Rebalance) -> np.ndarray:
    """Which ``dates`` are rebalance days: every day, every N bars (an int), or the first
    trading day of each week / month (the first date always)."""
    if isinstance(frequency, int) and not isinstance(frequency, bool):
        if frequency < 1:
            raise ValueError(f"rebalance must be daily, weekly, monthly or a number of bars "
                             f">= 1, got {frequency}")
        return np.arange(len(dates)) % frequency == 0
    if frequency == "daily":
        return np.ones(len(dates), bool)
    if frequency not in ("weekly", "monthly"):
        raise ValueError(f"rebalance must be daily, weekly or monthly, got {frequency!r}")
    periods = dates.to_period("W" if frequency == "weekly" else "M")
    due = np.ones(len(dates), bool)
    due[1:] = periods[1:] != periods[:-1]
    return due
