"""A dated cash rate: what cash earned, as the rate changed.

A rate file has two columns, a date and the annual rate in percent, the way FRED
publishes the 3-month Treasury bill (``DTB3``) or the effective federal funds rate
(``DFF``); FRED's ``.`` on a holiday is read as "no new quote"::

    observation_date,DTB3
    2023-12-29,5.20
    2024-01-01,.
    2024-01-02,5.22

Each quote is in effect from its date until the next, so the rate on a day is the
last quote on or before it: what was known then, never a later quote. Cash earns it by
calendar days (act/365, simple within a bar), as a book's borrow fee accrues.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.errors import DataError

MAX_PERCENT = 100.0  # a year's rate beyond 100% is a file in other units
MIN_PERCENT = -10.0  # the lowest policy rates were near -1%: below -10% is another unit
STALE_DAYS = 92  # a quote older than a quarter (and than 3 of the file's spacings) is stale


def load_cash_rate(path: str | Path, dates: pd.DatetimeIndex) -> pd.Series:
    """Cash's return over each bar, labelled by the bar's end: on ``dates[1:]``, the
    rate in effect at the bar's start times its calendar days over 365."""
    quotes = _quotes(Path(path), dates)
    in_effect = quotes.to_numpy()[quotes.index.searchsorted(dates[:-1], side="right") - 1]
    days = np.diff(dates.to_numpy()).astype("timedelta64[s]").astype(float) / 86400
    return pd.Series(in_effect / 100 * days / 365, index=dates[1:], name="cash_rate")


def cash_rate_notes(path: str | Path, dates: pd.DatetimeIndex) -> list[str]:
    """What a reader must know about a rate file read over ``dates``: quotes that look
    like fractions (0.05 for 5%), a file that ends long before the data, or a gap far
    beyond its spacing (each day in it keeps the last quote)."""
    quotes = _quotes(Path(path), dates)
    notes = []
    if (quotes.abs() < 1).all() and (quotes != 0).any():
        notes.append(f"{path}: every rate is below 1% a year; rates are read as percent "
                     "(5.25 is 5.25%): if the file holds fractions (0.0525), multiply by 100")
    gaps = quotes.index.to_series().diff().dt.days.dropna()
    spacing = float(gaps.median()) if len(gaps) else 1.0
    stale = max(STALE_DAYS, 3 * spacing)
    behind = (dates[-1] - quotes.index[-1]).days
    if behind > stale:
        notes.append(f"{path}: the last quote ({quotes.index[-1].date()}) is {behind} days "
                     f"before the data's last day ({dates[-1].date()}): cash keeps that rate")
    wide = gaps[gaps > max(STALE_DAYS, 10 * spacing)]
    if len(wide):
        end = wide.index[0]
        start = quotes.index[quotes.index.get_loc(end) - 1]
        notes.append(f"{path}: no quote from {start.date()} to {end.date()} ({int(wide.iloc[0])} "
                     f"days, the file's spacing is {spacing:g}): cash keeps the last rate")
    return notes


def _quotes(path: Path, dates: pd.DatetimeIndex) -> pd.Series:
    """The file's quotes (percent a year, holidays filled), checked."""
    if not path.is_file():
        raise DataError(f"{path}: cash rate file not found")
    try:
        table = pd.read_csv(path, index_col=0, parse_dates=True, na_values=["."])
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the cash rate ({exc})") from None
    if table.shape[1] != 1 or not isinstance(table.index, pd.DatetimeIndex):
        raise DataError(f"{path}: a cash rate file has two columns, a date and the annual "
                        f"rate in percent; found {[table.index.name, *table.columns]}")
    if not table.index.is_monotonic_increasing or table.index.has_duplicates:
        raise DataError(f"{path}: dates must be increasing and unique")
    quotes = pd.to_numeric(table.iloc[:, 0], errors="coerce")
    unreadable = quotes.isna() & table.iloc[:, 0].notna()
    wild = (quotes > MAX_PERCENT) | (quotes < MIN_PERCENT)
    if unreadable.any() or wild.any():
        date = quotes.index[np.argmax(unreadable.to_numpy() | wild.to_numpy())]
        raise DataError(f"{path}: the rate on {date.date()} is not a percentage a year "
                        f"between {MIN_PERCENT:g} and {MAX_PERCENT:g} (5.25 is 5.25%; got "
                        f"{table.iloc[:, 0][date]!r})")
    quotes = quotes.ffill().dropna()  # a holiday's "." keeps the last quote
    if quotes.empty or quotes.index[0] > dates[0]:
        first = "none" if quotes.empty else quotes.index[0].date()
        raise DataError(f"{path}: the first quote ({first}) comes after the data's first "
                        f"day {dates[0].date()}")
    return quotes
