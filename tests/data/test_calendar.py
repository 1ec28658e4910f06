import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import MarketPanel, load_sample
from fin_hgrpo.data.calendar import periods_per_year
from fin_hgrpo.errors import DataError
from fin_hgrpo.measures import performance


@pytest.mark.parametrize("dates, expected", [
    (pd.bdate_range("2015-01-01", "2019-12-31"), 252),  # exchange days (no holidays here)
    (load_sample(["AAPL"], start="2015-01-02", end="2015-06-30").dates, 252),  # half a year
    (pd.date_range("2020-01-01", "2023-12-31", freq="D"), 365),  # crypto: every day
    (pd.date_range("2015-01-02", "2020-01-03", freq="W-FRI"), 52),
    (pd.date_range("2000-01-31", "2020-12-31", freq="ME"), 12),
    (pd.date_range("2000-03-31", "2020-12-31", freq="QE"), 4),
])
def test_periods_per_year_from_the_calendar(dates, expected):
    assert periods_per_year(pd.DatetimeIndex(dates)) == expected


def test_intraday_bars_per_year_are_bars_per_session_times_sessions():
    days = pd.bdate_range("2023-03-01", periods=3)
    stamps = pd.DatetimeIndex([d + pd.Timedelta(hours=9, minutes=30) + k * pd.Timedelta(
        minutes=30) for d in days for k in range(13)])
    assert periods_per_year(stamps) == 13 * 252
    assert MarketPanel(pd.DataFrame({"A": np.linspace(1, 2, len(stamps))}, index=stamps)
                       ).periods_per_year == 13 * 252


@pytest.mark.parametrize("freq, periods", [("W-FRI", 52), ("D", 365)])
def test_annualised_figures_of_weekly_and_365_day_markets_match_the_truth(freq, periods):
    """The review's M4: 10%/yr drift and 16%/yr volatility sampled weekly (or every day)
    are reported as such, not as if each bar were an exchange day (Sharpe 1.55 for 0.71)."""
    rng = np.random.default_rng(0)
    n = 52 * 40 if periods == 52 else 365 * 20
    mu, sigma = 0.10, 0.16
    log_returns = rng.normal((mu - sigma**2 / 2) / periods, sigma / np.sqrt(periods), n)
    dates = pd.date_range("1990-01-05", periods=n + 1, freq=freq)
    prices = pd.DataFrame({"A": 100 * np.exp(np.r_[0, np.cumsum(log_returns)])}, index=dates)
    panel = MarketPanel(prices)
    assert panel.periods_per_year == periods
    returns = panel.returns("simple")["A"]
    years = n / periods
    # within about two standard errors of the truth
    assert performance.volatility(returns, periods=panel.periods_per_year) == pytest.approx(
        sigma, abs=2 * sigma / np.sqrt(2 * n) + 0.005)
    assert performance.sharpe(returns, periods=panel.periods_per_year) == pytest.approx(
        mu / sigma, abs=2 / np.sqrt(years))
    assert performance.cagr(returns, periods=panel.periods_per_year) == pytest.approx(
        np.exp(mu - sigma**2 / 2) - 1, abs=2 * sigma / np.sqrt(years))


def test_weekly_rows_then_daily_rows_are_refused_naming_the_years():
    dates = pd.bdate_range("2014-01-01", "2017-12-31", freq="W-FRI").append(
        pd.bdate_range("2018-01-01", "2020-12-31"))
    prices = pd.DataFrame({"A": np.linspace(10, 20, len(dates))}, index=dates)
    with pytest.raises(DataError, match=r"mixed.csv: the bars change frequency: 52 in 2015, "
                                        r"26\d in 20\d\d"):
        MarketPanel(prices, source="mixed.csv")


def test_a_mistyped_last_date_is_refused_naming_the_gap():
    dates = pd.bdate_range("2024-01-01", periods=100).append(pd.DatetimeIndex(["2099-01-01"]))
    prices = pd.DataFrame({"A": np.linspace(10, 20, len(dates))}, index=dates)
    with pytest.raises(DataError, match=r"typo.csv: a gap of 27,\d{3} days from 2024-05-17 to "
                                        r"2099-01-01, where bars are usually 1 days apart"):
        MarketPanel(prices, source="typo.csv")


@pytest.mark.parametrize("freq", ["B", "D", "W-FRI", "MS"])
def test_regular_calendars_with_holidays_pass(freq):
    dates = pd.date_range("2010-01-01", "2016-06-30", freq=freq)
    dates = dates.delete(list(range(5, len(dates), 40)))  # holidays and missed bars
    MarketPanel(pd.DataFrame({"A": np.linspace(10, 20, len(dates))}, index=dates))
