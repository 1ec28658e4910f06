"""The bundled real sample: daily adjusted closes of 19 US stocks and SPY.

The files are the clone's ``data/sample/`` (its README the source note), which a wheel
carries inside the package (``fin_hgrpo.defaults``), so an installed wheel has them too.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.validation import Align
from fin_hgrpo.defaults import sample_folder
from fin_hgrpo.errors import DataError

STOCKS_FILE = "us_stocks_daily.csv"
BENCHMARK_FILE = "spy_daily.csv"
BENCHMARK_TICKER = "SPY"
SAMPLE_TICKERS = (
    "AAPL", "AMD", "AMZN", "BABA", "BAC", "BBY", "GE", "GM", "GOOG", "JPM",
    "MA", "META", "PFE", "RRC", "SBUX", "T", "UAA", "WMT", "XOM",
)  # fmt: skip


def load_sample(
    tickers: list[str] | tuple[str, ...] | None = None,
    *,
    start: object = None,
    end: object = None,
    align: Align = "inner",
    ffill_limit: int = 5,
) -> MarketPanel:
    """The bundled sample; by default its 19 stocks (``"SPY"`` may be asked for too).

    Tickers start trading on different dates (META in 2012, BABA in 2014); the default
    ``align="inner"`` keeps the dates all chosen tickers share, and the panel's report
    says how many were dropped. Pick fewer tickers or a later ``start`` for more history.
    """
    wanted = list(tickers) if tickers is not None else list(SAMPLE_TICKERS)
    return MarketPanel.from_frame(_raw_sample(), tickers=wanted, start=start, end=end,
                                  align=align, ffill_limit=ffill_limit, source="sample")


@cache
def _raw_sample() -> pd.DataFrame:
    frames = []
    for name in (STOCKS_FILE, BENCHMARK_FILE):
        path = sample_folder() / name
        if not path.is_file():
            raise DataError(f"{path}: bundled sample file not found (a broken install?)")
        with path.open("rb") as handle:
            frames.append(pd.read_csv(handle, index_col="date", parse_dates=["date"]))
    return pd.concat(frames, axis=1).rename_axis("date")
