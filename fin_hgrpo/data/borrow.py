"""Dated borrow fees: what it costs a year to borrow each ticker, as it changed.

A borrow file is wide, one row per date on which fees changed, one column per ticker
(and ``default`` for the tickers not named), in basis points a year::

    date,GME,default
    2020-01-02,50,50
    2021-01-25,2500,50

Each row is in effect from its date until the next, so the fee on a day is the last
row on or before it: what a desk quoted then, never a later quote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.errors import DataError

DEFAULT = "default"
MAX_BPS_YEAR = 100_000.0  # 1000% a year: beyond it a fee is in other units, or a typo


def load_borrow_fees(path: str | Path, dates: pd.DatetimeIndex,
                     tickers: tuple[str, ...] | list[str]) -> np.ndarray:
    """Dates x tickers: each ticker's borrow fee in bps a year on each of ``dates``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: borrow fee file not found")
    try:
        table = pd.read_csv(path, index_col=0, parse_dates=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read borrow fees ({exc})") from None
    if table.empty or not isinstance(table.index, pd.DatetimeIndex):
        raise DataError(f"{path}: borrow fees need a date column, then one column per ticker")
    if not table.index.is_monotonic_increasing or table.index.has_duplicates:
        raise DataError(f"{path}: dates must be increasing and unique")
    unknown = sorted(set(table.columns) - set(tickers) - {DEFAULT})
    if unknown:
        raise DataError(f"{path}: tickers {unknown} are not in the panel")
    missing = [t for t in tickers if t not in table.columns]
    if missing and DEFAULT not in table.columns:
        raise DataError(f"{path}: no fee for ticker {missing[0]} (and no default column)")
    values = table.apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values) | (values < 0) | (values > MAX_BPS_YEAR)
    if bad.to_numpy().any():
        row, col = (int(i[0]) for i in np.nonzero(bad.to_numpy()))
        raise DataError(f"{path}: the fee for {table.columns[col]} on "
                        f"{table.index[row].date()} is not a number of bps a year within "
                        f"0 .. {MAX_BPS_YEAR:.0f} (got {table.iloc[row, col]!r})")
    if table.index[0] > dates[0]:
        raise DataError(f"{path}: fees start on {table.index[0].date()}, after the data's "
                        f"first day {dates[0].date()}")
    # the default column stands for the tickers the file does not name
    fees = pd.DataFrame({t: values[t] if t in values else values[DEFAULT] for t in tickers})
    in_effect = fees.index.searchsorted(dates, side="right") - 1
    return fees.to_numpy()[in_effect]
