"""Index membership over time: which tickers a universe holds on each date.

A membership file lists, one row per spell, when a ticker belongs to the universe, the
way qlib's instrument files do::

    ticker,start,end
    AAPL,1990-01-02,
    GM,2010-11-18,2024-06-21

``end`` is inclusive; empty means still a member. A ticker may have several spells. A
point-in-time universe (``align = "listed"``) restricted by such a file follows an
index's historical members: a ticker is bought only while a member, and sold when it
leaves.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fin_hgrpo.data.calendar import to_date
from fin_hgrpo.errors import DataError
from fin_hgrpo.io import read_csv

COLUMNS = ("ticker", "start", "end")


def load_membership(path: str | Path, dates: pd.DatetimeIndex,
                    tickers: tuple[str, ...] | list[str], *,
                    what: str = "membership") -> pd.DataFrame:
    """Dates x tickers: True where the ticker is a member on that date. ``what`` names
    the file in errors: the same spells also say when a ticker may be shorted."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    frame = read_csv(path, f" (a {what} file: ticker,start,end)", dtype=str,
                     keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: {what} needs columns {', '.join(COLUMNS)}; "
                        f"missing {', '.join(missing)}")
    unknown = sorted(set(frame["ticker"]) - set(tickers))
    if unknown:
        raise DataError(f"{path}: tickers {unknown} are not in the universe's data")
    members = pd.DataFrame(False, index=dates, columns=list(tickers))
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        where = f"{path}, line {line} ({row.ticker})"
        start = to_date(row.start, f"{where}, start")
        end = to_date(row.end, f"{where}, end") if row.end.strip() else dates[-1]
        if end < start:
            raise DataError(f"{path}, line {line}: {row.ticker} ends ({end.date()}) before "
                            f"it starts ({start.date()})")
        members.loc[(dates >= start) & (dates <= end), row.ticker] = True
    return members
