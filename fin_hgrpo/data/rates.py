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


def load_cash_rate(path: str | Path, dates: pd.DatetimeIndex) -> pd.Series:
    """Cash's return over each bar, labelled by the bar's end: on ``dates[1:]``, the
    rate in effect at the bar's start times its calendar days over 365."""
    path = Path(path)
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
    wild = quotes.abs() > MAX_PERCENT
    if unreadable.any() or wild.any():
        date = quotes.index[np.argmax(unreadable.to_numpy() | wild.to_numpy())]
        raise DataError(f"{path}: the rate on {date.date()} is not a percentage a year "
                        f"(5.25 is 5.25%; got {table.iloc[:, 0][date]!r})")
    quotes = quotes.ffill().dropna()  # a holiday's "." keeps the last quote
    if quotes.empty or quotes.index[0] > dates[0]:
        first = "none" if quotes.empty else quotes.index[0].date()
        raise DataError(f"{path}: the first quote ({first}) comes after the data's first "
                        f"day {dates[0].date()}")
    in_effect = quotes.to_numpy()[quotes.index.searchsorted(dates[:-1], side="right") - 1]
    days = np.diff(dates.to_numpy()).astype("timedelta64[s]").astype(float) / 86400
    return pd.Series(in_effect / 100 * days / 365, index=dates[1:], name="cash_rate")
