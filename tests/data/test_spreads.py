"""Spreads estimated from OHLC bars (EDGE): right on a market with a known spread,
causal, blind to splits, and refused without the bars."""

import numpy as np
import pandas as pd
import pytest
from bidask import edge

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.spreads import edge_half_spreads
from fin_hgrpo.errors import DataError


def _bars(days: int, spread: float, seed: int, ticks: int = 60) -> pd.DataFrame:
    """Trades that bounce between bid and ask around a random-walk mid price."""
    rng = np.random.default_rng(seed)
    mid = np.cumsum(rng.normal(0, 0.02 / np.sqrt(ticks), days * ticks))
    prices = np.exp(mid + rng.choice([-1, 1], days * ticks) * spread / 2).reshape(days, ticks)
    return pd.DataFrame({"open": prices[:, 0], "high": prices.max(1), "low": prices.min(1),
                         "close": prices[:, -1]},
                        index=pd.bdate_range("2020-01-01", periods=days))


def _panel(tickers: dict[str, pd.DataFrame]) -> MarketPanel:
    field = {name: pd.DataFrame({t: bars[name] for t, bars in tickers.items()})
             for name in ("open", "high", "low", "close")}
    return MarketPanel(field["close"], fields=field)


def test_the_estimate_finds_a_known_spread_and_a_trade_pays_half_of_it():
    panel = _panel({"WIDE": _bars(1500, 0.02, seed=1), "TIGHT": _bars(1500, 0.004, seed=2)})
    half = edge_half_spreads(panel, days=252)
    assert half["WIDE"].iloc[-500:].mean() == pytest.approx(0.01, rel=0.15)
    assert half["TIGHT"].iloc[-500:].mean() == pytest.approx(0.002, rel=0.35)


def test_each_days_estimate_reads_its_window_of_bars_and_nothing_later():
    bars = _bars(200, 0.01, seed=3)
    half = edge_half_spreads(_panel({"X": bars}), days=21)
    for t in (30, 99, 199):
        window = bars.iloc[t - 20:t + 1]
        assert half["X"].iloc[t] == pytest.approx(
            edge(window["open"], window["high"], window["low"], window["close"]) / 2,
            rel=1e-9)
    changed = bars.copy()
    changed.iloc[100:] *= np.exp(np.random.default_rng(0).normal(0, 0.1, (100, 1)))
    again = edge_half_spreads(_panel({"X": changed}), days=21)
    pd.testing.assert_series_equal(again["X"].iloc[:100], half["X"].iloc[:100])


def test_a_split_in_the_raw_bars_is_not_read_as_a_spread():
    bars = _bars(300, 0.01, seed=4)
    raw = bars.copy()
    raw.iloc[150:] /= 4.0  # a 4:1 split: the raw prices fall, the adjusted close does not
    fields = {name: raw[[name]].rename(columns={name: "X"}) for name in raw}
    split = MarketPanel(bars[["close"]].rename(columns={"close": "X"}), fields=fields)
    np.testing.assert_allclose(edge_half_spreads(split, 21)["X"],
                               edge_half_spreads(_panel({"X": bars}), 21)["X"], rtol=1e-9)


def test_a_ticker_without_an_estimate_yet_pays_the_days_median():
    bars = {"A": _bars(300, 0.02, seed=5), "B": _bars(300, 0.01, seed=7),
            "L": _bars(300, 0.01, seed=6)}
    bars["L"].iloc[:100] = np.nan  # listed from day 100
    field = {name: pd.DataFrame({t: b[name] for t, b in bars.items()})
             for name in ("open", "high", "low", "close")}
    panel = MarketPanel(field["close"], fields=field, tradable=field["close"].notna())
    half = edge_half_spreads(panel, 21)
    assert half.notna().all().all()
    assert half["L"].iloc[50] == pytest.approx(half[["A", "B"]].iloc[50].median())
    assert half["L"].iloc[150] != pytest.approx(half[["A", "B"]].iloc[150].median())


def test_a_panel_without_bars_is_refused_naming_what_it_lacks():
    prices = _bars(50, 0.01, seed=8)[["close"]]
    with pytest.raises(DataError, match="needs open, high, low and close; this panel has "
                                        "no open, high, low"):
        edge_half_spreads(MarketPanel(prices), 21)
    copies = {name: prices.rename(columns={"close": "X"}) for name in ("open", "high", "low")}
    with pytest.raises(DataError, match="ticker X has no day with a high above its low"):
        edge_half_spreads(MarketPanel(prices.rename(columns={"close": "X"}), fields=copies), 21)
