"""Download adjusted prices with yfinance, cached per ticker as parquet.

The cache holds, per ticker and interval, the bars fetched so far and the date range
they cover. A request fetches only the part of its range the cache lacks, extending
the covered range so that it stays one contiguous interval. Dates follow yfinance:
``start`` inclusive, ``end`` exclusive. Only completed bars are cached or returned:
the end is capped at today, whose bar is not final yet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fin_hgrpo.data.formats import normalise_name, to_fields
from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.validation import FIELDS, Align
from fin_hgrpo.errors import DataError
from fin_hgrpo.io import atomic_write

_META_KEY = b"fin_hgrpo.coverage"
# An empty answer for a ticker we already hold may just be a weekend or holidays.
_QUIET_GAP = pd.Timedelta(days=7)


@dataclass
class FetchReport:
    """Per ticker: rows served from the cache, rows downloaded, ranges downloaded."""

    from_cache: dict[str, int] = field(default_factory=dict)
    downloaded: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        for ticker in self.from_cache:
            ranges = ", ".join(f"{a.date()}..{b.date()}" for a, b in self.ranges.get(ticker, []))
            fetched = (f"downloaded {self.downloaded.get(ticker, 0)} rows ({ranges})"
                       if ranges else "nothing downloaded")
            out.append(f"{ticker}: {self.from_cache[ticker]} rows from cache, {fetched}")
        return out


class PriceCache:
    """One parquet file per ticker and interval; each write is atomic."""

    def __init__(self, cache_dir: str | Path, interval: str) -> None:
        self.dir = Path(cache_dir)
        self.interval = interval

    def path(self, ticker: str) -> Path:
        safe = ticker.replace(os.sep, "_").replace("/", "_")
        return self.dir / f"{safe}_{self.interval}.parquet"

    def read(self, ticker: str) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp] | None:
        path = self.path(ticker)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[_META_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise DataError(
                f"{path}: unreadable cache file ({exc}); delete it to refetch"
            ) from None
        return table.to_pandas(), pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])

    def write(self, ticker: str, frame: pd.DataFrame, start: pd.Timestamp,
              end: pd.Timestamp) -> None:
        table = pa.Table.from_pandas(frame)
        meta = {**(table.schema.metadata or {}),
                _META_KEY: json.dumps({"start": str(start), "end": str(end)}).encode()}
        table = table.replace_schema_metadata(meta)
        atomic_write(self.path(ticker), lambda tmp: pq.write_table(table, tmp))


def load_yfinance(
    tickers: list[str] | tuple[str, ...] | str,
    start: object,
    end: object = None,
    interval: str = "1d",
    cache_dir: str | Path = "data/cache",
    offline: bool = False,
    *,
    align: Align = "inner",
    ffill_limit: int = 5,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> MarketPanel:
    """Adjusted prices (and OHLCV) for ``tickers`` from ``start`` to ``end`` (exclusive).

    Uses the cache where it covers the request and downloads the rest, retrying
    transient failures with exponential backoff for at most ``timeout_s`` seconds.
    ``offline=True`` never touches the network and fails at once, naming the tickers
    the cache cannot serve.
    """
    frames, _ = fetch_yfinance(tickers, start, end, interval, cache_dir, offline,
                               retries=retries, backoff_s=backoff_s, timeout_s=timeout_s)
    long = pd.concat(
        [frame.assign(ticker=ticker) for ticker, frame in frames.items()]
    ).rename_axis("date").reset_index()
    return MarketPanel.from_frame(long, start=_bounds(start, end)[0], align=align,
                                  ffill_limit=ffill_limit, source="yfinance")


def fetch_yfinance(
    tickers: list[str] | tuple[str, ...] | str,
    start: object,
    end: object = None,
    interval: str = "1d",
    cache_dir: str | Path = "data/cache",
    offline: bool = False,
    *,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> tuple[dict[str, pd.DataFrame], FetchReport]:
    """Bring the cache up to date for the request; return each ticker's bars in range."""
    names = _ticker_list(tickers)
    lo, hi = _bounds(start, end)
    cache = PriceCache(cache_dir, interval)
    report = FetchReport()
    held = {ticker: cache.read(ticker) for ticker in names}
    wanted: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
    for ticker in names:
        for gap in _missing(held[ticker], lo, hi):
            wanted.setdefault(gap, []).append(ticker)
    if offline and wanted:
        missing = sorted({t for group in wanted.values() for t in group})
        raise DataError(f"yfinance (offline): the cache in {cache_dir} does not cover "
                        f"{lo.date()}..{hi.date()} for tickers {missing}")

    deadline = time.monotonic() + timeout_s
    fresh: dict[str, list[pd.DataFrame]] = {}
    for (gap_lo, gap_hi), group in wanted.items():
        quiet = {t for t in group if held[t] is not None and gap_hi - gap_lo <= _QUIET_GAP}
        got = _download(group, gap_lo, gap_hi, interval, quiet, retries, backoff_s, deadline)
        for ticker, bars in got.items():
            report.ranges.setdefault(ticker, []).append((gap_lo, gap_hi))
            if bars.empty:  # a quiet gap with no bars: keep the cache, ask again next time
                continue
            fresh.setdefault(ticker, []).append(bars)
            old = held[ticker]
            if old is None:
                merged, cov_lo, cov_hi = bars, gap_lo, gap_hi
            else:
                merged = pd.concat([old[0], bars])
                merged = merged[~merged.index.duplicated(keep="last")].sort_index()
                cov_lo, cov_hi = min(old[1], gap_lo), max(old[2], gap_hi)
            cache.write(ticker, merged, cov_lo, cov_hi)
            held[ticker] = (merged, cov_lo, cov_hi)

    frames = {}
    for ticker in names:
        entry = held[ticker]
        bars = entry[0] if entry is not None else pd.DataFrame(columns=list(FIELDS))
        frames[ticker] = bars.loc[(bars.index >= lo) & (bars.index < hi)]
        new = sum(int(((b.index >= lo) & (b.index < hi)).sum()) for b in fresh.get(ticker, []))
        report.downloaded[ticker] = new
        report.from_cache[ticker] = len(frames[ticker]) - new
    return frames, report


def _ticker_list(tickers: list[str] | tuple[str, ...] | str) -> list[str]:
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    names = list(dict.fromkeys(t.strip().upper() for t in tickers if t.strip()))
    if not names:
        raise DataError("yfinance: no tickers given")
    return names


def _bounds(start: object, end: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) as timestamps; the end is capped at today, whose bar is not final."""
    if start is None:
        raise DataError("yfinance: a start date is required")
    today = pd.Timestamp.today().normalize()
    try:
        lo = pd.Timestamp(start)
        hi = min(pd.Timestamp(end), today) if end is not None else today
    except ValueError as exc:
        raise DataError(f"yfinance: bad date ({exc})") from None
    if hi <= lo:
        raise DataError(f"yfinance: no completed bars between {lo.date()} and {hi.date()}")
    return lo, hi


def _missing(cached, lo, hi) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Ranges to download so that the cache covers [lo, hi) and stays one interval."""
    if cached is None:
        return [(lo, hi)]
    _, cov_lo, cov_hi = cached
    gaps = []
    if lo < cov_lo:
        gaps.append((lo, cov_lo))
    if hi > cov_hi:
        gaps.append((cov_hi, hi))
    return gaps


def _download(tickers, lo, hi, interval, quiet, retries, backoff_s, deadline):
    """Download a group; retry tickers that came back empty, except those allowed to."""
    import yfinance as yf  # imported here: it is slow to import and only needed online

    got: dict[str, pd.DataFrame] = {}
    pending = list(tickers)
    last_error = ""
    for attempt in range(retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with _quiet_yfinance() as said:
            try:
                raw = yf.download(pending, start=lo.strftime("%Y-%m-%d"),
                                  end=hi.strftime("%Y-%m-%d"), interval=interval,
                                  auto_adjust=False, actions=False, progress=False,
                                  multi_level_index=True, timeout=max(1.0, min(10.0, remaining)))
            except Exception as exc:  # yfinance raises many kinds on network trouble
                raw = None
                said.append(f"{type(exc).__name__}: {exc}")
        if said:
            last_error = "; yfinance said: " + " | ".join(dict.fromkeys(said))[:400]
        got.update(_split(raw, pending))
        pending = [t for t in pending if t not in got and t not in quiet]
        if not pending:
            break
        delay = backoff_s * 2**attempt
        if attempt == retries or time.monotonic() + delay >= deadline:
            break
        time.sleep(delay)
    if pending:
        raise DataError(
            f"yfinance: no data for tickers {pending} from {lo.date()} to {hi.date()} "
            f"(unknown or delisted ticker, or no network){last_error}"
        )
    empty = pd.DataFrame(columns=list(FIELDS), index=pd.DatetimeIndex([], name="date"))
    return {t: got.get(t, empty) for t in tickers}


@contextlib.contextmanager
def _quiet_yfinance():
    """Collect yfinance's error log lines (to quote in our own error) instead of printing
    them, and keep the pandas deprecation warnings raised inside yfinance off the console."""
    said: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage().strip()
            if record.levelno >= logging.ERROR and message and "Failed download" not in message:
                said.append(message.splitlines()[0])

    logger = logging.getLogger("yfinance")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*inplace keyword", module="yfinance")
            yield said
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _split(raw: pd.DataFrame | None, tickers: list[str]) -> dict[str, pd.DataFrame]:
    """yfinance's (field, ticker) columns -> one frame of fields per ticker with data."""
    if raw is None or raw.empty:
        return {}
    if not isinstance(raw.columns, pd.MultiIndex):
        if len(tickers) != 1 or not {normalise_name(c) for c in raw.columns} & set(FIELDS):
            return {}
        raw = pd.concat({tickers[0]: raw}, axis=1).swaplevel(0, 1, axis=1)
    fields, _ = to_fields(raw, "yfinance")
    out = {}
    for ticker in fields["adj_close"].columns:
        bars = pd.DataFrame({name: frame[ticker] for name, frame in fields.items()})
        bars = bars.loc[bars["adj_close"].notna()].rename_axis("date")
        if not bars.empty and ticker.upper() in tickers:
            out[ticker.upper()] = bars
    return out
