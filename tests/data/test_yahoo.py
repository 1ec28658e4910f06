"""The yfinance loader, without network: yfinance.download is replaced by a recorder that
answers in the layout yfinance 1.7 really returns, from a fixed history of real prices."""

import numpy as np
import pandas as pd
import pytest
import yfinance
import yfinance.utils

from fin_hgrpo.data import fetch_yfinance, load_yfinance
from fin_hgrpo.data.price_cache import PriceCache
from fin_hgrpo.errors import DataError


def test_recorded_layout_is_yfinances(recorder):
    raw = recorder(["AAPL", "JPM"], "2023-01-03", "2023-01-10", auto_adjust=False,
                   progress=False)
    assert raw.columns.names == ["Price", "Ticker"]
    assert ("Adj Close", "AAPL") in raw.columns and raw.index.name == "Date"


def test_download_gives_the_adjusted_prices_and_ohlcv(recorder, tmp_path):
    panel = load_yfinance(["AAPL", "JPM"], "2023-01-03", "2023-02-01", cache_dir=tmp_path)
    expected = recorder.history.loc["2023-01-03":"2023-01-31", ["AAPL", "JPM"]]
    np.testing.assert_allclose(panel.prices.to_numpy(), expected.to_numpy())
    assert set(panel.fields) == {"adj_close", "open", "high", "low", "close", "volume"}
    assert recorder.calls == [(["AAPL", "JPM"], "2023-01-03", "2023-02-01")]
    assert PriceCache(tmp_path, "1d").path("AAPL").is_file()


def test_cache_is_reused_and_only_missing_ranges_are_fetched(recorder, tmp_path):
    load_yfinance(["AAPL", "JPM"], "2023-02-01", "2023-03-01", cache_dir=tmp_path)
    frames, report = fetch_yfinance(["AAPL", "JPM"], "2023-02-01", "2023-03-01",
                                    cache_dir=tmp_path)
    assert len(recorder.calls) == 1 and report.downloaded == {"AAPL": 0, "JPM": 0}
    # a wider request fetches the two missing ends only, each overlapping one cached bar
    # (the first, 2023-02-01, and the last, 2023-02-28) to check the adjustment
    panel = load_yfinance(["AAPL", "JPM"], "2023-01-17", "2023-03-15", cache_dir=tmp_path)
    assert recorder.calls[1:] == [(["AAPL", "JPM"], "2023-01-17", "2023-02-02"),
                                  (["AAPL", "JPM"], "2023-02-28", "2023-03-15")]
    expected = recorder.history.loc["2023-01-17":"2023-03-14", ["AAPL", "JPM"]]
    np.testing.assert_allclose(panel.prices.to_numpy(), expected.to_numpy())
    # a new ticker alongside cached ones is fetched on its own
    load_yfinance(["AAPL", "XOM"], "2023-02-01", "2023-03-01", cache_dir=tmp_path)
    assert recorder.calls[-1] == (["XOM"], "2023-02-01", "2023-03-01")


def test_offline_uses_the_cache_or_fails_at_once_naming_tickers(recorder, tmp_path):
    load_yfinance(["AAPL"], "2023-01-03", "2023-02-01", cache_dir=tmp_path)
    panel = load_yfinance(["AAPL"], "2023-01-05", "2023-01-20", cache_dir=tmp_path,
                          offline=True)
    assert panel.dates[0] == pd.Timestamp("2023-01-05") and len(recorder.calls) == 1
    with pytest.raises(DataError, match=r"offline.*does not cover.*\['JPM'\]"):
        load_yfinance(["AAPL", "JPM"], "2023-01-05", "2023-01-20", cache_dir=tmp_path,
                      offline=True)
    assert len(recorder.calls) == 1


def test_unknown_ticker_is_named_after_retries(recorder, tmp_path):
    with pytest.raises(DataError, match=r"no data for tickers \['TYPO'\]"):
        load_yfinance(["AAPL", "TYPO"], "2023-01-03", "2023-02-01", cache_dir=tmp_path,
                      retries=2)
    assert [c[0] for c in recorder.calls] == [["AAPL", "TYPO"], ["TYPO"], ["TYPO"]]


def test_transient_failures_are_retried_with_backoff(recorder, monkeypatch, tmp_path):
    fake = recorder
    fake.fail_times = 2
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    panel = load_yfinance("AAPL JPM", "2023-01-03", "2023-02-01", cache_dir=tmp_path,
                          backoff_s=0.5)
    assert panel.tickers == ("AAPL", "JPM") and len(fake.calls) == 3
    assert sleeps == [0.5, 1.0]


def test_no_network_fails_within_the_time_limit(monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Could not resolve host")

    clock = iter(range(0, 10_000, 7))
    monkeypatch.setattr(yfinance, "download", unreachable)
    monkeypatch.setattr("time.sleep", lambda s: None)
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    with pytest.raises(DataError, match=r"\['AAPL'\].*ConnectionError: Could not resolve"):
        load_yfinance(["AAPL"], "2023-01-03", "2023-02-01", cache_dir=tmp_path, retries=50,
                      timeout_s=60)


def test_single_ticker_with_flat_columns_is_understood(recorder, monkeypatch, tmp_path):
    fake = recorder
    monkeypatch.setattr(yfinance, "download",
                        lambda *a, **k: fake(*a, **{**k, "multi_level_index": False}))
    panel = load_yfinance("XOM", "2023-01-03", "2023-01-20", cache_dir=tmp_path)
    assert panel.tickers == ("XOM",) and len(panel) == 12


def test_an_empty_recent_gap_for_a_cached_ticker_is_not_an_error(recorder, tmp_path):
    load_yfinance(["AAPL"], "2023-01-03", "2023-03-27", cache_dir=tmp_path)
    recorder.unknown = {"AAPL"}  # nothing new: e.g. a weekend, or the data ends
    panel = load_yfinance(["AAPL"], "2023-01-03", "2023-04-01", cache_dir=tmp_path)
    assert panel.dates[-1] == pd.Timestamp("2023-03-24") and len(recorder.calls) == 2


def test_cache_files_are_replaced_atomically(recorder, tmp_path):
    load_yfinance(["AAPL"], "2023-01-03", "2023-02-01", cache_dir=tmp_path)
    load_yfinance(["AAPL"], "2023-01-03", "2023-03-01", cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AAPL_1d.parquet"]
    bars, start, end = PriceCache(tmp_path, "1d").read("AAPL")
    assert (start, end) == (pd.Timestamp("2023-01-03"), pd.Timestamp("2023-03-01"))
    assert bars.index.is_unique and bars.index.is_monotonic_increasing


def test_corrupt_cache_file_is_named(recorder, tmp_path):
    PriceCache(tmp_path, "1d").path("AAPL").write_text("garbage")
    with pytest.raises(DataError, match="AAPL_1d.parquet: unreadable cache file"):
        load_yfinance(["AAPL"], "2023-01-03", "2023-02-01", cache_dir=tmp_path)


@pytest.mark.parametrize("factor, what", [(0.25, "4:1 split"), (0.99, "1% dividend")])
def test_a_corporate_action_between_fetches_refreshes_the_cache(recorder, tmp_path, factor,
                                                                 what):
    """Yahoo back-adjusts history after a split or dividend: bars fetched before it must
    not be joined to bars fetched after it (the review's C1: a -75% day at the join)."""
    recorder.corporate_action("AAPL", "2023-03-01", factor)
    load_yfinance(["AAPL", "JPM"], "2023-01-03", "2023-02-15", cache_dir=tmp_path)
    recorder.effective()  # Yahoo now back-adjusts AAPL's history for it
    panel = load_yfinance(["AAPL", "JPM"], "2023-01-03", "2023-03-31", cache_dir=tmp_path)
    returns = panel.returns("simple")
    truth = (recorder.history.loc["2023-01-03":"2023-03-30", ["AAPL", "JPM"]]).pct_change().iloc[1:]
    np.testing.assert_allclose(returns.to_numpy(), truth.to_numpy(), rtol=1e-9, atol=1e-12)
    # the cache now holds one adjustment: today's
    bars, start, end = PriceCache(tmp_path, "1d").read("AAPL")
    np.testing.assert_allclose(bars["adj_close"].to_numpy(),
                               recorder.history.loc["2023-01-03":"2023-03-30", "AAPL"].to_numpy(),
                               rtol=1e-12)
    # JPM's history did not change: its cache was extended, not refetched
    assert recorder.calls[-1] == (["AAPL"], "2023-01-03", "2023-03-31")
    assert (["JPM"], "2023-01-03", "2023-03-31") not in recorder.calls


def test_only_bars_completed_in_new_york_are_cached(recorder, tmp_path, monkeypatch):
    """A machine at UTC+10 at 02:00 on 2 March: New York's 1 March session is still open,
    so its bar is not final and must not be cached (the review's m10)."""
    import fin_hgrpo.data.yahoo as yahoo

    monkeypatch.setattr(yahoo, "_now", lambda: pd.Timestamp("2023-03-02 02:00",
                                                            tz="Australia/Sydney"))
    panel = load_yfinance(["AAPL"], "2023-02-01", None, cache_dir=tmp_path)
    assert panel.dates[-1] == pd.Timestamp("2023-02-28")
    assert recorder.calls[-1][2] == "2023-03-01"
    # once New York's close has passed, the bar of 1 March is complete
    monkeypatch.setattr(yahoo, "_now", lambda: pd.Timestamp("2023-03-01 16:30",
                                                            tz="America/New_York"))
    assert load_yfinance(["AAPL"], "2023-02-01", None, cache_dir=tmp_path).dates[-1] == \
        pd.Timestamp("2023-03-01")
    # a weekly bar is complete once its week is over
    monkeypatch.setattr(yahoo, "_now", lambda: pd.Timestamp("2023-03-01 18:00",
                                                            tz="America/New_York"))
    load_yfinance(["AAPL"], "2023-01-02", None, interval="1wk", cache_dir=tmp_path)
    assert recorder.calls[-1][2] == "2023-02-27"  # the Monday of the week in progress


def test_intraday_bars_load_in_exchange_time(monkeypatch, tmp_path):
    """yfinance gives intraday bars tz-aware in the exchange's zone: the panel holds them
    as New York wall-clock times, tz-naive."""
    stamps = pd.date_range("2023-03-01 09:30", periods=14, freq="30min",
                           tz="America/New_York")
    stamps = stamps[stamps.time <= pd.Timestamp("15:30").time()]

    def download(tickers, **kwargs):
        frame = pd.DataFrame({"Adj Close": np.linspace(100, 101, len(stamps)),
                              "Close": np.linspace(100, 101, len(stamps)),
                              "Volume": np.arange(len(stamps)) + 10}, index=stamps)
        frame.index.name = "Datetime"
        return pd.concat({"AAPL": frame}, axis=1, names=["Ticker", "Price"]).swaplevel(
            0, 1, axis=1)

    monkeypatch.setattr(yfinance, "download", download)
    panel = load_yfinance(["AAPL"], "2023-03-01", "2023-03-02", interval="30m",
                          cache_dir=tmp_path)
    assert panel.dates[0] == pd.Timestamp("2023-03-01 09:30") and panel.dates.tz is None
    assert len(panel) == len(stamps)


def test_a_yfinance_source_honours_tickers_dates_and_interval(recorder, tmp_path):
    from fin_hgrpo.data import load_source

    panel = load_source("yfinance:AAPL,JPM@2023-01-03:2023-03-01", tickers=["XOM"],
                        start="2023-02-01", end="2023-02-15", cache_dir=tmp_path)
    assert panel.tickers == ("XOM",)
    assert (panel.dates[0], panel.dates[-1]) == (pd.Timestamp("2023-02-01"),
                                                 pd.Timestamp("2023-02-15"))
    load_source("yfinance:AAPL@2023-01-03:2023-03-01/1wk", cache_dir=tmp_path)
    assert PriceCache(tmp_path, "1wk").path("AAPL").is_file()
    with pytest.raises(DataError, match="interval '7x'"):
        load_source("yfinance:AAPL@2023-01-03:2023-03-01/7x", cache_dir=tmp_path)
