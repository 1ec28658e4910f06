"""Load market data from CSV or parquet files, long or wide format (detected)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.validation import Align
from fin_hgrpo.errors import DataError
from fin_hgrpo.io import read_csv


def load_csv(
    path: str | Path,
    *,
    tickers: list[str] | None = None,
    start: object = None,
    end: object = None,
    align: Align = "inner",
    ffill_limit: int = 5,
) -> MarketPanel:
    """Read a CSV of prices: long (date, ticker, price columns) or wide (date x tickers)."""
    path = _existing(path)
    frame = read_csv(path)
    header = read_csv(path, header=None, nrows=1, dtype=str).iloc[0]
    _check_header(header, path)
    return MarketPanel.from_frame(frame, tickers=tickers, start=start, end=end, align=align,
                                  ffill_limit=ffill_limit, source=str(path))


def _check_header(header: pd.Series, path: Path) -> None:
    """pandas renames a repeated column (``AAPL.1``) and names an empty one
    (``Unnamed: 2``): either would become an asset that is not in the file."""
    names = header.fillna("").str.strip()
    empty = [i + 1 for i, name in enumerate(names) if name == "" and i > 0]
    if empty:
        raise DataError(f"{path}: column {empty[0]} of the header has no name")
    repeated = names[names.duplicated()]
    if len(repeated):
        raise DataError(f"{path}: the header names {repeated.iloc[0]} twice")


def load_parquet(
    path: str | Path,
    *,
    tickers: list[str] | None = None,
    start: object = None,
    end: object = None,
    align: Align = "inner",
    ffill_limit: int = 5,
) -> MarketPanel:
    """Read a parquet file of prices: long or wide, the date as a column or the index."""
    path = _existing(path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    return MarketPanel.from_frame(frame, tickers=tickers, start=start, end=end, align=align,
                                  ffill_limit=ffill_limit, source=str(path))


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path
