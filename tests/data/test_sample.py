import pytest

from fin_hgrpo.data import BENCHMARK_TICKER, SAMPLE_TICKERS, load_sample
from fin_hgrpo.errors import DataError


def test_sample_is_real_daily_data_of_many_assets_over_years():
    panel = load_sample()
    assert panel.tickers == SAMPLE_TICKERS
    assert panel.n_assets >= 10 and len(panel) >= 2500
    assert (panel.dates[-1] - panel.dates[0]).days >= 10 * 365
    # ragged starts are dropped and said, never filled
    assert panel.report.policy == "inner" and panel.report.n_dropped > 0
    assert panel.report.filled == {}


def test_fewer_tickers_give_more_history_and_spy_is_available():
    panel = load_sample(["AAPL", "XOM", BENCHMARK_TICKER], start="1995-01-03")
    assert panel.dates[0].year == 1995 and panel.dates[-1].year == 2024


def test_asking_for_history_a_ticker_lacks_is_an_error():
    with pytest.raises(DataError, match="sample: ticker META has too little history"):
        load_sample(["AAPL", "META"], start="2005-01-03")
