"""Load market data from CSV or parquet files, long or wide format (detected)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.validation import Align
from fin_hgrpo.errors import DataError


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
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    return MarketPanel.from_frame(frame, tickers=tickers, start=start, end=end, align=align,
                                  ffill_limit=ffill_limit, source=str(path))


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
