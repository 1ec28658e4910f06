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
    align: Align = "inner",
    ffill_limit: int = 5,
    cache_dir: str | Path = "data/cache",
    offline: bool = False,
) -> MarketPanel:
    """Load the panel a source string names."""
    kind, _, rest = source.partition(":")
    if kind == "sample" and not rest:
        return load_sample(align=align, ffill_limit=ffill_limit)
    if kind == "csv" and rest:
        return load_csv(rest, align=align, ffill_limit=ffill_limit)
    if kind == "parquet" and rest:
        return load_parquet(rest, align=align, ffill_limit=ffill_limit)
    if kind == "synthetic" and rest:
        return synthetic_market(rest).panel
    if kind == "yfinance" and rest:
        tickers, _, dates = rest.partition("@")
        start, _, end = dates.partition(":")
        if not start:
            raise DataError(f"source {source!r}: give a start date, yfinance:{tickers}@START[:END]")
        return load_yfinance(tickers, start, end or None, cache_dir=cache_dir, offline=offline,
                             align=align, ffill_limit=ffill_limit)
    raise DataError(f"unknown data source {source!r}; use one of: {SOURCE_FORMS}")
