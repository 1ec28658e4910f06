"""Name a data source in one string, as the CLI and spec files do.

``sample`` | ``csv:PATH`` | ``parquet:PATH`` | ``yfinance:T1,T2[@START[:END]]`` |
``synthetic:KIND``.
"""

from __future__ import annotations

from pathlib import Path

from fin_hgrpo.data.files import load_csv, load_parquet
from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.sample import load_sample
from fin_hgrpo.data.synthetic import synthetic_market
from fin_hgrpo.data.validation import Align
from fin_hgrpo.data.yahoo import load_yfinance
from fin_hgrpo.errors import DataError

SOURCE_FORMS = "sample, csv:PATH, parquet:PATH, yfinance:T1,T2[@START[:END]], synthetic:KIND"


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
    narrow it before alignment (for yfinance they are part of the string)."""
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
        names, _, dates = rest.partition("@")
        first, _, last = dates.partition(":")
        if not first:
            raise DataError(f"source {source!r}: give a start date, yfinance:{names}@START[:END]")
        return load_yfinance(names, first, last or None, cache_dir=cache_dir, offline=offline,
                             align=align, ffill_limit=ffill_limit)
    raise DataError(f"unknown data source {source!r}; use one of: {SOURCE_FORMS}")
