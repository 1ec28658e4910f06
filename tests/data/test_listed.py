"""Point-in-time universes: ``align="listed"`` keeps every date something trades on."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import MarketPanel, load_sample
from fin_hgrpo.errors import DataError


def _frame() -> pd.DataFrame:
    dates = pd.bdate_range("2020-01-01", periods=10)
    return pd.DataFrame({
        "A": np.linspace(100, 109, 10),
        "B": [np.nan, np.nan, np.nan, 50, 51, 52, 53, 54, 55, 56],      # lists on day 3
        "C": [20, 21, 22, 23, np.nan, np.nan, 26, 27, np.nan, np.nan],  # halts, delists
    }, index=dates.rename("date"))


def test_listed_keeps_every_date_with_a_tradable_mask():
    panel = MarketPanel.from_frame(_frame(), align="listed")
    assert len(panel) == 10 and panel.report.n_dropped == 0
    tradable = panel.tradable
    assert tradable["B"].tolist() == [False] * 3 + [True] * 7
    assert tradable["C"].tolist() == [True] * 4 + [False] * 2 + [True] * 2 + [False] * 2
    prices = panel.prices
    assert prices["B"].iloc[:3].isna().all()  # nothing invented before the listing
    assert prices["C"].iloc[4:6].tolist() == [23.0, 23.0]  # a halt holds the last price
    assert prices["C"].iloc[8:].isna().all()  # nor after the delisting
    assert panel.report.filled == {"C": 2}


def test_a_complete_panel_is_tradable_everywhere_and_slices_keep_the_mask():
    panel = MarketPanel.from_frame(_frame(), align="listed")
    assert panel.slice(panel.dates[2], panel.dates[5]).tradable["B"].tolist() == [
        False, True, True, True]
    full = load_sample(["AAPL", "XOM"], start="2020-01-02", end="2020-03-31")
    assert full.tradable.to_numpy().all()


def test_listed_universe_of_the_bundled_sample_starts_in_1990():
    panel = load_sample(align="listed")
    assert panel.dates[0] == pd.Timestamp("1990-01-02") and panel.n_assets == 19
    assert panel.tradable.loc["1990-01-02"].sum() == 11
    assert panel.tradable.iloc[-1].all()


def test_other_policies_still_refuse_gaps_in_a_panel():
    with pytest.raises(DataError, match="missing adj_close for ticker B"):
        MarketPanel(_frame())


def _ragged() -> pd.DataFrame:
    """20 business days from 2020-01-01: A trades throughout; LATE lists on the 11th day
    (2020-01-15, two weeks after the start); GONE halts on days 5-6 and delists after
    day 15."""
    dates = pd.bdate_range("2020-01-01", periods=20)
    gone = np.r_[np.linspace(20, 24, 5), [np.nan, np.nan], np.linspace(27, 34, 8),
                 [np.nan] * 5]
    return pd.DataFrame({"A": np.linspace(100, 119, 20),
                         "LATE": np.r_[[np.nan] * 10, np.linspace(50, 59, 10)],
                         "GONE": gone}, index=dates.rename("date"))


def _ragged_file(tmp_path, kind: str = "csv") -> str:
    frame = _ragged()
    path = tmp_path / f"ragged.{kind}"
    if kind == "csv":
        frame.to_csv(path)
    else:
        frame.reset_index().to_parquet(path)
    return str(path)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_explicit_start_before_a_listing_keeps_the_listing_in_a_point_in_time_universe(
        tmp_path, kind):
    """Issue 34: a name listed after the start enters when it lists; only align="inner"
    refuses it (its dates would all have to be shared)."""
    from fin_hgrpo.data import load_source

    source = f"{kind}:{_ragged_file(tmp_path, kind)}"
    panel = load_source(source, start="2020-01-01", align="listed")
    assert panel.tradable["LATE"].tolist() == [False] * 10 + [True] * 10
    with pytest.raises(DataError, match="ticker LATE has too little history"):
        load_source(source, start="2020-01-01", align="inner")


def test_the_sample_and_yfinance_accept_a_start_before_a_listing(recorder, tmp_path):
    panel = load_sample(["AAPL", "META"], start="2005-01-03", align="listed")
    assert panel.dates[0] == pd.Timestamp("2005-01-03")
    assert not panel.tradable["META"].iloc[0] and panel.tradable["META"].iloc[-1]
    from fin_hgrpo.data import load_yfinance

    recorded = load_yfinance(["AAPL", "JPM"], "2018-06-01", "2019-03-01", cache_dir=tmp_path,
                             align="listed")  # the recorded history begins in 2019
    assert recorded.dates[0] >= pd.Timestamp("2019-01-02")


def test_a_ticker_without_a_price_in_the_window_is_still_refused_by_name():
    with pytest.raises(DataError, match="no prices for ticker B"):
        MarketPanel.from_frame(_frame(), start="2020-01-01", end="2020-01-02", align="listed")


def test_an_env_spec_with_a_start_and_a_membership_file_reads_a_late_listing(tmp_path):
    from fin_hgrpo.envs import EnvSpec

    members = tmp_path / "members.csv"
    members.write_text("ticker,start,end\nA,2020-01-01,\nLATE,2020-01-20,\nGONE,2020-01-01,\n")
    spec = EnvSpec.model_validate({
        "data": {"source": f"csv:{_ragged_file(tmp_path)}", "align": "listed",
                 "start": "2020-01-01", "membership": str(members)},
        "features": [{"name": "log_return"}], "window": 1, "normalize_features": False})
    sim = spec.build_sim()
    late = list(sim.panel.tickers).index("LATE")
    # listed from the 15th, a member from the 20th (the 14th day)
    assert sim.tradable[:, late].tolist() == [False] * 13 + [True] * 7
