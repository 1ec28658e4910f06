"""Download adjusted prices with yfinance, cached per ticker as parquet.

The cache holds, per ticker and interval, the bars fetched so far and the date range
they cover. A request fetches only the part of its range the cache lacks, extending
the covered range so that it stays one contiguous interval. Dates follow yfinance:
``start`` inclusive, ``end`` exclusive.

Adjustment-safe: Yahoo back-adjusts a ticker's whole history after every split and
dividend, so bars fetched on different days may carry different adjustments. Every
extension is fetched with one bar of overlap with the cache; if the adjusted close on
the shared bar differs (by more than 1e-6, relative), a corporate action happened in
between and the ticker's whole cached range is fetched again, so that the cache always
holds one adjustment, the latest.

Only completed bars are cached or returned: the end is capped at the last session that
has closed in the exchange's time zone (New York by default): today's bar after 16:15
there, yesterday's before; for weekly and monthly bars, the last complete week or month.
Intraday bars come back as the exchange's wall-clock times, tz-naive.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.data.formats import normalise_name, to_fields
from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.data.price_cache import Cached, PriceCache
from fin_hgrpo.data.validation import FIELDS, Align
from fin_hgrpo.errors import DataError

# An empty answer for a ticker we already hold may just be a weekend or holidays.
_QUIET_GAP = pd.Timedelta(days=7)
INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "1wk", "1mo", "3mo")
EXCHANGE_TZ = "America/New_York"
_SESSION_CLOSED = pd.Timedelta(hours=16, minutes=15)  # the close, plus a margin
_SAME_ADJUSTMENT = 1e-6  # relative difference of adj_close on a shared bar


def _now() -> pd.Timestamp:
    """The current time (a function, so that tests can set the clock)."""
    return pd.Timestamp.now(tz="UTC")


@dataclass
class FetchReport:
    """Per ticker: rows served from the cache, rows downloaded, ranges downloaded."""

    from_cache: dict[str, int] = field(default_factory=dict)
    downloaded: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = field(default_factory=dict)
    refreshed: list[str] = field(default_factory=list)  # history re-adjusted since cached

    def lines(self) -> list[str]:
        out = []
        for ticker in self.from_cache:
            ranges = ", ".join(f"{a.date()}..{b.date()}" for a, b in self.ranges.get(ticker, []))
            fetched = (f"downloaded {self.downloaded.get(ticker, 0)} rows ({ranges})"
                       if ranges else "nothing downloaded")
            again = (" (history re-adjusted by a split or dividend since it was cached: "
                     "fetched again whole)" if ticker in self.refreshed else "")
            out.append(f"{ticker}: {self.from_cache[ticker]} rows from cache, {fetched}{again}")
        return out


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
    exchange_tz: str = EXCHANGE_TZ,
) -> MarketPanel:
    """Adjusted prices (and OHLCV) for ``tickers`` from ``start`` to ``end`` (exclusive).

    Uses the cache where it covers the request and downloads the rest, retrying
    transient failures with exponential backoff for at most ``timeout_s`` seconds.
    ``offline=True`` never touches the network and fails at once, naming the tickers
    the cache cannot serve. ``exchange_tz``: where a session's close makes a bar final.
    """
    frames, _ = fetch_yfinance(tickers, start, end, interval, cache_dir, offline,
                               retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
                               exchange_tz=exchange_tz)
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
    exchange_tz: str = EXCHANGE_TZ,
) -> tuple[dict[str, pd.DataFrame], FetchReport]:
    """Bring the cache up to date for the request; return each ticker's bars in range."""
    names = _ticker_list(tickers)
    lo, hi = _request(start, end, interval, exchange_tz)
    cache = PriceCache(cache_dir, interval)
    held = {ticker: cache.read(ticker) for ticker in names}
    wanted = _plan_gaps(held, lo, hi)
    if offline and wanted:
        missing = sorted({t for group in wanted.values() for t in group})
        raise DataError(f"yfinance (offline): the cache in {cache_dir} does not cover "
                        f"{lo.date()}..{hi.date()} for tickers {missing}")
    deadline = time.monotonic() + timeout_s

    def download(group: list[str], gap_lo: pd.Timestamp, gap_hi: pd.Timestamp,
                 quiet: set[str]) -> dict[str, pd.DataFrame]:
        return _download(group, gap_lo, gap_hi, interval, quiet, retries, backoff_s, deadline)

    report = FetchReport()
    fresh: dict[str, list[pd.DataFrame]] = {}
    stale = _extend(cache, held, wanted, download, report, fresh)
    _refresh_stale(cache, held, stale, lo, hi, download, report, fresh)
    frames = {}
    for ticker in names:
        entry = held[ticker]
        bars = entry[0] if entry is not None else pd.DataFrame(columns=list(FIELDS))
        frames[ticker] = bars.loc[(bars.index >= lo) & (bars.index < hi)]
        new = sum(int(((b.index >= lo) & (b.index < hi)).sum()) for b in fresh.get(ticker, []))
        report.downloaded[ticker] = new
        report.from_cache[ticker] = len(frames[ticker]) - new
    return frames, report


Download = Callable[[list[str], pd.Timestamp, pd.Timestamp, set[str]], dict[str, pd.DataFrame]]


def _request(start: object, end: object, interval: str,
             exchange_tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The requested [lo, hi), its end capped at the last completed bar."""
    lo, hi = _bounds(start, end)
    if interval not in INTERVALS:
        raise DataError(f"yfinance: unknown interval {interval!r}; use one of "
                        f"{', '.join(INTERVALS)}")
    hi = min(hi, _completed_end(interval, exchange_tz))
    if hi <= lo:
        raise DataError(f"yfinance: no completed {interval} bars between {lo.date()} and "
                        f"{hi.date()} ({exchange_tz})")
    return lo, hi


def _plan_gaps(held: dict[str, Cached | None], lo: pd.Timestamp,
               hi: pd.Timestamp) -> dict[tuple[pd.Timestamp, pd.Timestamp], list[str]]:
    """The ranges to download, each with the tickers that lack it (one call each)."""
    wanted: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
    for ticker, cached in held.items():
        for gap in _missing(cached, lo, hi):
            wanted.setdefault(gap, []).append(ticker)
    return wanted


def _extend(cache: PriceCache, held: dict[str, Cached | None],
            wanted: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]], download: Download,
            report: FetchReport, fresh: dict[str, list[pd.DataFrame]]) -> set[str]:
    """Download each gap and merge it into the cache; returns the tickers whose history
    was re-adjusted since they were cached (their new bars are not merged)."""
    stale: set[str] = set()
    for (gap_lo, gap_hi), group in wanted.items():
        group = [t for t in group if t not in stale]
        quiet = {t for t in group
                 if held[t] is not None and _new_span(held[t], gap_lo, gap_hi) <= _QUIET_GAP}
        for ticker, bars in download(group, gap_lo, gap_hi, quiet).items():
            report.ranges.setdefault(ticker, []).append((gap_lo, gap_hi))
            if bars.empty:  # a quiet gap with no bars: keep the cache, ask again next time
                continue
            old = held[ticker]
            if old is not None and not _same_adjustment(old[0], bars):
                stale.add(ticker)
                continue
            fresh.setdefault(ticker, []).append(bars)
            if old is None:
                merged, cov_lo, cov_hi = bars, gap_lo, gap_hi
            else:
                merged = pd.concat([old[0], bars])
                merged = merged[~merged.index.duplicated(keep="last")].sort_index()
                cov_lo, cov_hi = min(old[1], gap_lo), max(old[2], gap_hi)
            cache.write(ticker, merged, cov_lo, cov_hi)
            held[ticker] = (merged, cov_lo, cov_hi)
    return stale


def _refresh_stale(cache: PriceCache, held: dict[str, Cached | None], stale: set[str],
                   lo: pd.Timestamp, hi: pd.Timestamp, download: Download,
                   report: FetchReport, fresh: dict[str, list[pd.DataFrame]]) -> None:
    """Fetch each re-adjusted ticker's whole range again, under today's adjustment."""
    for ticker in sorted(stale):
        whole_lo, whole_hi = min(held[ticker][1], lo), max(held[ticker][2], hi)
        bars = download([ticker], whole_lo, whole_hi, set())[ticker]
        report.ranges.setdefault(ticker, []).append((whole_lo, whole_hi))
        report.refreshed.append(ticker)
        fresh[ticker] = [bars]
        cache.write(ticker, bars, whole_lo, whole_hi)
        held[ticker] = (bars, whole_lo, whole_hi)


def _ticker_list(tickers: list[str] | tuple[str, ...] | str) -> list[str]:
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    names = list(dict.fromkeys(t.strip().upper() for t in tickers if t.strip()))
    if not names:
        raise DataError("yfinance: no tickers given")
    return names


def _bounds(start: object, end: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) as timestamps (an open end: up to the last completed bar)."""
    if start is None:
        raise DataError("yfinance: a start date is required")
    try:
        lo = pd.Timestamp(start)
        hi = pd.Timestamp(end) if end is not None else pd.Timestamp.max.normalize()
    except ValueError as exc:
        raise DataError(f"yfinance: bad date ({exc})") from None
    if hi <= lo:
        raise DataError(f"yfinance: no bars between {lo.date()} and {hi.date()}")
    return lo, hi


def _completed_end(interval: str, exchange_tz: str) -> pd.Timestamp:
    """The exclusive end of the bars completed by now in the exchange's time zone."""
    now = _now().tz_convert(exchange_tz)
    today = now.normalize().tz_localize(None)
    closed = now - now.normalize() >= _SESSION_CLOSED
    if interval == "1wk":  # the week's bar is final once Friday's session has closed
        monday = today - pd.Timedelta(days=today.day_of_week)
        done = today.day_of_week > 4 or (today.day_of_week == 4 and closed)
        return monday + pd.Timedelta(days=7) if done else monday
    if interval in ("1mo", "3mo"):  # the month's (quarter's) bar is final once it is over
        return today.to_period("M" if interval == "1mo" else "Q").start_time
    return today + pd.Timedelta(days=1) if closed else today


def _new_span(cached, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Timedelta:
    """How much of [lo, hi) lies outside the cached coverage (the overlap is not new)."""
    _, cov_lo, cov_hi = cached
    return max(hi - max(lo, cov_hi), pd.Timedelta(0)) + max(min(hi, cov_lo) - lo,
                                                             pd.Timedelta(0))


def _same_adjustment(cached: pd.DataFrame, bars: pd.DataFrame) -> bool:
    """Whether freshly fetched ``bars`` carry the cache's adjustment: the adjusted close
    agrees on the bars both hold (there is at least one: every fetch overlaps)."""
    if cached.empty:
        return True
    shared = cached.index.intersection(bars.index)
    if shared.empty:
        return False
    old = cached.loc[shared, "adj_close"].to_numpy(float)
    new = bars.loc[shared, "adj_close"].to_numpy(float)
    return bool(np.all(np.abs(new - old) <= _SAME_ADJUSTMENT * np.abs(old)))


def _missing(cached, lo, hi) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Ranges to download so that the cache covers [lo, hi) and stays one interval, each
    overlapping one cached bar (to check that the adjustment has not changed)."""
    if cached is None:
        return [(lo, hi)]
    bars, cov_lo, cov_hi = cached
    gaps = []
    if lo < cov_lo:
        gaps.append((lo, bars.index[0] + pd.Timedelta(days=1) if len(bars) else cov_lo))
    if hi > cov_hi:
        gaps.append((bars.index[-1].normalize() if len(bars) else cov_hi, hi))
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
    if isinstance(raw.index, pd.DatetimeIndex) and raw.index.tz is not None:
        raw = raw.set_axis(raw.index.tz_localize(None))  # intraday: the exchange's clock
    fields, _ = to_fields(raw, "yfinance")
    out = {}
    for ticker in fields["adj_close"].columns:
        bars = pd.DataFrame({name: frame[ticker] for name, frame in fields.items()})
        bars = bars.loc[bars["adj_close"].notna()].rename_axis("date")
        if not bars.empty and ticker.upper() in tickers:
            out[ticker.upper()] = bars
    return out
