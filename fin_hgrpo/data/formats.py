"""Recognise the layouts that market data arrives in and turn them into field frames.

Three layouts are understood, detected from the frame itself:

- long: one row per (date, ticker), with price columns (open, high, low, close,
  adj_close, volume; any subset that includes a close);
- wide: one row per date, one column per ticker, holding adjusted prices;
- yfinance: wide with two column levels, (price field, ticker), as ``yfinance.download``
  returns them.

The result maps each field name to a frame of dates x tickers, still unaligned.
"""

from __future__ import annotations

import pandas as pd

from fin_hgrpo.data.validation import FIELDS, check_dates, parse_dates
from fin_hgrpo.errors import DataError

_ALIASES = {
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "adj_price": "adj_close",
    "symbol": "ticker",
    "asset": "ticker",
    "datetime": "date",
    "timestamp": "date",
}
# Columns some sources add that are not prices; ignored, and said so.
_NOT_PRICES = ("dividends", "stock_splits", "capital_gains", "repaired?")


def normalise_name(name: object) -> str:
    """'Adj Close' -> 'adj_close', 'Symbol' -> 'ticker'."""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


def to_fields(frame: pd.DataFrame, source: str) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Split a raw frame into {field: dates x tickers}; also return notes on what was assumed."""
    if isinstance(frame.columns, pd.MultiIndex):
        fields, notes = _from_column_levels(frame, source)
    else:
        flat = _with_date_column(frame)
        if "ticker" in flat.columns:
            fields, notes = _from_long(flat, source)
        elif "date" in flat.columns:
            fields, notes = _from_wide(flat, source)
        else:
            raise DataError(
                f"{source}: neither long format (date, ticker and price columns) nor wide "
                f"format (date, then one price column per ticker); columns are "
                f"{list(map(str, frame.columns))}"
            )
    if "adj_close" not in fields:
        if "close" not in fields:
            raise DataError(f"{source}: missing required column: adj_close (or close)")
        fields["adj_close"] = fields["close"]
        notes.append("adj_close taken from close (the source has no adjusted close)")
    return fields, notes


def _with_date_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Move a date (or date, ticker) index into columns; rename the structural columns
    (date, ticker, price fields) to their canonical names, leaving tickers as they are."""
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.rename_axis("date").reset_index()
    elif "date" in [normalise_name(n) for n in frame.index.names if n is not None]:
        frame = frame.reset_index()
    structural = {"date", "ticker", *FIELDS}
    renamed = {c: normalise_name(c) for c in frame.columns if normalise_name(c) in structural}
    return frame.rename(columns=renamed)


def _numeric(values: pd.Series | pd.DataFrame, source: str, what: str):
    try:
        return values.astype(float)
    except (ValueError, TypeError):
        raise DataError(f"{source}: column {what} is not numeric") from None


def _from_long(frame: pd.DataFrame, source: str) -> tuple[dict[str, pd.DataFrame], list[str]]:
    if "date" not in frame.columns:
        raise DataError(f"{source}: long format needs a date column next to ticker")
    notes = _ignored(frame.columns, {"date", "ticker", *FIELDS})
    frame = frame.assign(date=parse_dates(frame["date"], source),
                         ticker=frame["ticker"].astype(str))
    for ticker, dates in frame.groupby("ticker", sort=False)["date"]:
        check_dates(pd.DatetimeIndex(dates), source, ticker=str(ticker))
    fields = {}
    for name in FIELDS:
        if name in frame.columns:
            values = frame.assign(**{name: _numeric(frame[name], source, name)})
            wide = values.pivot(index="date", columns="ticker", values=name)
            wide.columns = wide.columns.astype(str)
            fields[name] = wide
    return fields, notes


def _from_wide(frame: pd.DataFrame, source: str) -> tuple[dict[str, pd.DataFrame], list[str]]:
    dates = parse_dates(frame.pop("date"), source)
    check_dates(dates, source)
    if frame.shape[1] == 0:
        raise DataError(f"{source}: wide format has a date column but no ticker columns")
    prices = pd.DataFrame(
        {str(c): _numeric(frame[c], source, str(c)).to_numpy() for c in frame.columns},
        index=dates,
    )
    return {"adj_close": prices}, []


def _from_column_levels(
    frame: pd.DataFrame, source: str
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    if frame.columns.nlevels != 2:
        raise DataError(f"{source}: expected two column levels (field, ticker)")
    known = {*FIELDS, *_NOT_PRICES}
    levels = [{normalise_name(v) for v in frame.columns.get_level_values(i)} for i in (0, 1)]
    field_level = next((i for i in (0, 1) if levels[i] <= known), None)
    if field_level is None:
        raise DataError(
            f"{source}: neither column level holds price fields; got {sorted(levels[0])} "
            f"and {sorted(levels[1])}"
        )
    dates = parse_dates(frame.index, source)
    check_dates(dates, source)
    fields: dict[str, pd.DataFrame] = {}
    for raw in dict.fromkeys(frame.columns.get_level_values(field_level)):
        name = normalise_name(raw)
        if name in FIELDS:
            part = frame.xs(raw, axis=1, level=field_level)
            part = _numeric(part, source, name)
            part.index = dates
            part.columns = part.columns.astype(str)
            fields[name] = part
    notes = _ignored(levels[field_level], set(FIELDS))
    return fields, notes


def _ignored(columns, used: set[str]) -> list[str]:
    extra = sorted(set(map(str, columns)) - used)
    return [f"ignored columns: {', '.join(extra)}"] if extra else []
