import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.errors import DataError


def test_returns_match_hand_computation(wide_prices):
    panel = MarketPanel(wide_prices)
    simple = panel.returns("simple")
    assert simple.index[0] == pd.Timestamp("2024-01-03")
    np.testing.assert_allclose(simple["AAA"], [0.10, -0.10, 0.0, 0.10])
    np.testing.assert_allclose(simple["BBB"], [0.0, 0.10, -0.20, 0.0])
    np.testing.assert_allclose(panel.returns("log"), np.log1p(simple))


def test_slice_is_inclusive_and_select_keeps_order(wide_prices):
    panel = MarketPanel(wide_prices)
    part = panel.slice("2024-01-03", "2024-01-05")
    assert list(part.dates.strftime("%d")) == ["03", "04", "05"]
    swapped = panel.select(["BBB", "AAA"])
    assert swapped.tickers == ("BBB", "AAA")
    assert swapped.prices["AAA"].equals(panel.prices["AAA"])


def test_select_and_slice_name_what_is_wrong(wide_prices):
    panel = MarketPanel(wide_prices)
    with pytest.raises(DataError, match=r"unknown tickers \['ZZZ'\]"):
        panel.select(["AAA", "ZZZ"])
    with pytest.raises(DataError, match="no dates between 2030-01-01"):
        panel.slice("2030-01-01", None)


def test_panel_cannot_be_changed_through_its_accessors(wide_prices):
    panel = MarketPanel(wide_prices)
    prices = panel.prices
    prices.iloc[0, 0] = -1.0
    wide_prices.iloc[0, 0] = -1.0
    assert panel.prices.iloc[0, 0] == 100.0
    with pytest.raises(ValueError):
        panel.price_array()[0, 0] = 1.0


def test_repr_names_assets_dates_and_rows(wide_prices):
    text = repr(MarketPanel(wide_prices, source="hand"))
    assert "2 assets [AAA, BBB]" in text
    assert "2024-01-02 .. 2024-01-08" in text and "5 rows" in text


@pytest.mark.parametrize(
    ("value", "message"),
    [(0.0, "non-positive adj_close 0.0 for ticker BBB on 2024-01-04"),
     (-3.0, "non-positive adj_close -3.0 for ticker BBB on 2024-01-04"),
     (np.inf, "non-finite adj_close inf for ticker BBB on 2024-01-04")],
)
def test_bad_prices_name_ticker_and_date(wide_prices, value, message):
    wide_prices.loc["2024-01-04", "BBB"] = value
    with pytest.raises(DataError, match=message):
        MarketPanel.from_frame(wide_prices, source="prices.csv")


def test_duplicate_unsorted_and_tz_aware_dates_are_refused(wide_prices):
    duplicated = wide_prices.rename(index={pd.Timestamp("2024-01-03"): pd.Timestamp("2024-01-02")})
    with pytest.raises(DataError, match="prices.csv: duplicate date 2024-01-02"):
        MarketPanel.from_frame(duplicated, source="prices.csv")
    unsorted = wide_prices.iloc[[0, 2, 1, 3, 4]]
    with pytest.raises(DataError, match="2024-01-03 comes after 2024-01-04"):
        MarketPanel.from_frame(unsorted, source="prices.csv")
    aware = wide_prices.tz_localize("America/New_York")
    with pytest.raises(DataError, match="tz-aware"):
        MarketPanel.from_frame(aware, source="prices.csv")


def test_mixed_date_values_are_refused():
    frame = pd.DataFrame({"date": ["2024-01-02", "not a date"], "AAA": [1.0, 2.0]})
    with pytest.raises(DataError, match="dates could not be parsed"):
        MarketPanel.from_frame(frame, source="prices.csv")
    mixed_zones = pd.DataFrame({"date": ["2024-01-02", "2024-01-03T00:00:00+05:00"],
                                "AAA": [1.0, 2.0]})
    with pytest.raises(DataError, match="prices.csv"):
        MarketPanel.from_frame(mixed_zones, source="prices.csv")


def test_inner_alignment_drops_and_reports_dates(wide_prices):
    wide_prices.loc[:"2024-01-03", "BBB"] = np.nan  # BBB starts trading later
    panel = MarketPanel.from_frame(wide_prices, align="inner")
    assert len(panel) == 3
    assert panel.report.n_dropped == 2
    assert list(panel.report.dropped.strftime("%m-%d")) == ["01-02", "01-03"]


def test_ffill_fills_short_gaps_only_and_reports_them(wide_prices):
    wide_prices.loc["2024-01-04", "AAA"] = np.nan  # a one-day gap
    wide_prices.loc[:"2024-01-02", "BBB"] = np.nan  # not yet listed: never back-filled
    panel = MarketPanel.from_frame(wide_prices, align="ffill", ffill_limit=1)
    assert panel.report.filled == {"AAA": 1}
    assert panel.report.n_dropped == 1
    assert panel.prices.loc["2024-01-04", "AAA"] == 110.0
    with pytest.raises(DataError, match="missing adj_close for ticker BBB on 2024-01-02"):
        MarketPanel.from_frame(wide_prices, align="strict", source="p.csv")


def test_gap_longer_than_the_fill_limit_is_dropped_not_invented(wide_prices):
    wide_prices.loc["2024-01-03":"2024-01-05", "AAA"] = np.nan
    panel = MarketPanel.from_frame(wide_prices, align="ffill", ffill_limit=2)
    assert panel.report.filled == {"AAA": 2}
    assert "2024-01-05" not in panel.dates


def test_too_little_history_for_the_request_names_the_ticker(wide_prices):
    wide_prices.loc[:"2024-01-05", "BBB"] = np.nan
    with pytest.raises(DataError, match="ticker BBB has too little history.*2024-01-08"):
        MarketPanel.from_frame(wide_prices, start="2023-12-30")
    # a start on a weekend or holiday just before the first price is fine
    assert len(MarketPanel.from_frame(wide_prices, start="2024-01-06")) == 1


def test_long_frame_round_trip_keeps_every_field(wide_prices):
    long = (wide_prices.stack().rename("adj_close").rename_axis(["date", "ticker"])
            .reset_index())
    long["volume"] = 1000.0
    panel = MarketPanel.from_frame(long)
    assert panel.fields == ("adj_close", "volume")
    again = MarketPanel.from_frame(panel.to_frame())
    assert again.equals(panel)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (12, 3), elements=st.floats(0.01, 1e4)))
def test_prices_to_returns_and_back(prices):
    dates = pd.bdate_range("2020-01-01", periods=len(prices))
    panel = MarketPanel(pd.DataFrame(prices, index=dates, columns=["A", "B", "C"]))
    rebuilt = prices[0] * np.vstack([np.ones(3), np.cumprod(1 + panel.returns().to_numpy(),
                                                            axis=0)])
    np.testing.assert_allclose(rebuilt, prices, rtol=1e-9)
    logs = np.exp(np.cumsum(panel.returns("log").to_numpy(), axis=0))
    np.testing.assert_allclose(prices[0] * logs, prices[1:], rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=3), st.data())
def test_inner_alignment_keeps_exactly_the_shared_dates(starts, data):
    n = 40
    dates = pd.bdate_range("2020-01-01", periods=n)
    frame = pd.DataFrame({f"T{i}": np.where(np.arange(n) >= s, 100.0 + i, np.nan)
                          for i, s in enumerate(starts)}, index=dates)
    holes = data.draw(st.lists(st.integers(0, n - 1), max_size=5))
    frame.iloc[holes, 0] = np.nan
    panel = MarketPanel.from_frame(frame, align="inner")
    complete = frame.notna().all(axis=1)
    assert panel.dates.equals(frame.index[complete.to_numpy()].rename("date"))
    assert panel.report.n_dropped == int((~complete).sum())


def test_a_range_outside_the_data_names_the_range_and_the_data(tmp_path):
    from fin_hgrpo.data import load_csv
    from fin_hgrpo.errors import DataError

    path = tmp_path / "p.csv"
    path.write_text("date,A\n2024-01-02,10\n2024-01-03,11\n2024-01-04,12\n")
    with pytest.raises(DataError, match=r"p.csv: no dates between 2020-01-01 and 2020-12-31; "
                                        r"the data covers 2024-01-02 \.\. 2024-01-04"):
        load_csv(path, start="2020-01-01", end="2020-12-31")
    with pytest.raises(DataError, match="start 2024-01-04 is after end 2024-01-02"):
        load_csv(path, start="2024-01-04", end="2024-01-02")
