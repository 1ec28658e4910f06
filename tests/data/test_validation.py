"""Price moves a careful reader checks: named by ticker and date, never silent."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import load_sample
from fin_hgrpo.data.validation import parse_dates, suspicious_moves
from fin_hgrpo.errors import DataError


def test_the_bundled_sample_has_no_suspicious_moves():
    assert suspicious_moves(load_sample().prices) == []


def test_a_bad_tick_and_an_unadjusted_split_are_named():
    prices = load_sample(["AAPL", "XOM"], start="2024-01-02").prices
    tick, split = prices.copy(), prices.copy()
    tick.loc["2024-05-02", "XOM"] *= 100
    split.loc["2024-05-02":, "AAPL"] /= 4
    assert suspicious_moves(tick) == ["XOM: price x100 on 2024-05-02 and back the next day: "
                                      "a bad tick?"]
    assert suspicious_moves(split) == ["AAPL: price x0.256 on 2024-05-02: an unadjusted split "
                                       "or a change of units?"]


def test_many_moves_are_counted_after_the_first_few():
    prices = pd.DataFrame({"A": np.tile([10.0, 40.0], 10)},
                          index=pd.bdate_range("2024-01-01", periods=20))
    found = suspicious_moves(prices)
    assert len(found) == 6 and found[-1].startswith("and ")


def test_a_price_that_stops_moving_is_named():
    """reliability.md #5: 200 flat days (a stale feed) passed without a word."""
    prices = load_sample(["AAPL", "XOM"], start="2023-01-03").prices
    prices.loc["2023-06-01":"2024-03-15", "XOM"] = prices.loc["2023-06-01", "XOM"]
    [warning] = suspicious_moves(prices)
    assert warning.startswith("XOM: price unchanged for 198 bars from 2023-06-01 to "
                              "2024-03-15: a stale feed?")


def test_day_first_dates_are_refused_as_ambiguous():
    """reliability.md #4: d/m/Y dates read month-first and were refused as unsorted."""
    with pytest.raises(DataError, match=r"prices.csv: dates are day first \(13/01/2014\)"):
        parse_dates(["02/01/2014", "13/01/2014"], "prices.csv")
