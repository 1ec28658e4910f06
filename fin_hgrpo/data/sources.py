"""Name a data source in one string, as the CLI and spec files do.

``sample`` | ``csv:PATH`` | ``parquet:PATH`` | ``yfinance:T1,T2[@START[:END]][/INTERVAL]``
| ``synthetic:KIND``.

A yfinance string's dates follow yfinance (``END`` exclusive) and its interval is one of
yfinance's (``1d`` by default, ``1wk``, ``1mo``, ``1h``, ...). ``tickers``, ``start`` and
``end`` given beside it (a spec's ``[data]`` keys, or the benchmark's ticker) narrow it
as they narrow every other source: ``tickers`` replace the string's, ``start`` and
``end`` (inclusive) replace its dates.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fin_hgrpo.data.files import load_csv, load_parquet
from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.sample import load_sample
from fin_hgrpo.data.synthetic import synthetic_market
from fin_hgrpo.data.validation import Align
from fin_hgrpo.data.yahoo import load_yfinance
from fin_hgrpo.errors import DataError

SOURCE_FORMS = ("sample, csv:PATH, parquet:PATH, yfinance:T1,T2[@START[:END]][/INTERVAL], "
                "synthetic:KIND")


def load_source(
    source: str,
    *,
    tickers: list[str] | None = None,
    start: object = None,
    end: object = None,
    align: Align = "inner",
    ffill_limit: int = 5,
    cache_dir: str | Path = "data/cache",
    offline: bool = False,
) -> MarketPanel:
    """Load the panel a source string names; ``tickers``, ``start`` and ``end`` (inclusive)
    narrow it before alignment."""
    kind, _, rest = source.partition(":")
    narrow = {"tickers": tickers, "start": start, "end": end, "align": align,
              "ffill_limit": ffill_limit}
    if kind == "sample" and not rest:
        return load_sample(**narrow)
    if kind == "csv" and rest:
        return load_csv(rest, **narrow)
    if kind == "parquet" and rest:
        return load_parquet(rest, **narrow)
    if kind == "synthetic" and rest:
        panel = synthetic_market(rest).panel
        panel = panel.select(tickers) if tickers else panel
        return panel.slice(start, end) if start or end else panel
    if kind == "yfinance" and rest:
        body, _, interval = rest.partition("/")
        names, _, dates = body.partition("@")
        first, _, last = dates.partition(":")
        first = start or first
        if not first:
            raise DataError(f"source {source!r}: give a start date, yfinance:{names}@START[:END] "
                            f"or start = ... beside it")
        stop = pd.Timestamp(end) + pd.Timedelta(days=1) if end else (last or None)
        return load_yfinance(tickers or names, first, stop, interval=interval or "1d",
                             cache_dir=cache_dir, offline=offline, align=align,
                             ffill_limit=ffill_limit)
    raise DataError(f"unknown data source {source!r}; use one of: {SOURCE_FORMS}")
