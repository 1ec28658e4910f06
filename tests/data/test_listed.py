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
