import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.risk.stress import equal_weights, historical_stress, hypothetical_shocks


def _prices() -> pd.DataFrame:
    dates = pd.bdate_range("2020-02-14", periods=6)
    return pd.DataFrame({"A": [100, 100, 90, 81, 90, 99], "B": [50, 50, 55, 44, 44, 55],
                         "C": [np.nan, np.nan, 10, 10, 10, 10]}, index=dates, dtype=float)


def test_a_window_held_untraded_by_hand():
    weights = pd.Series({"A": 0.5, "B": 0.3, "C": 0.0, "cash": 0.2})
    rows = historical_stress(weights, _prices(), {},
                             {"crash": ("2020-02-18", "2020-02-20")}).iloc[0]
    # from the close of 2020-02-17 (A 100, B 50) to 2020-02-20 (A 90, B 44)
    wealth = [1.0, 0.5 * 0.9 + 0.3 * 1.1 + 0.2, 0.5 * 0.81 + 0.3 * 0.88 + 0.2,
              0.5 * 0.9 + 0.3 * 0.88 + 0.2]
    assert rows["covered"] and rows["days"] == 3
    assert (rows["from"], rows["to"]) == ("2020-02-17", "2020-02-20")
    assert rows["loss"] == pytest.approx(wealth[-1] - 1)
    daily = np.diff(wealth) / np.array(wealth[:-1])
    assert rows["worst_day"] == pytest.approx(daily.min())
    assert rows["max_drawdown"] == pytest.approx(min(wealth) / max(wealth[:2]) - 1)


def test_a_window_the_data_or_a_holding_does_not_cover_is_marked():
    weights = pd.Series({"A": 0.5, "B": 0.0, "C": 0.5, "cash": 0.0})
    table = historical_stress(weights, _prices(), {"1/N": equal_weights(["A", "B"])},
                              {"early": ("2020-02-17", "2020-02-19"),
                               "before the data": ("2019-01-01", "2019-02-01")})
    assert table["covered"].tolist() == [False, True, False, False]  # C lists on the 18th


def test_windows_outside_the_data_still_give_the_whole_table_and_say_where_the_data_is():
    weights = pd.Series({"A": 0.5, "B": 0.5, "cash": 0.0})
    table = historical_stress(weights, _prices(), {}, {"before": ("2019-01-01", "2019-02-01"),
                                                        "after": ("2021-01-01", "2021-02-01")})
    assert not table["covered"].any()
    assert {"from", "to", "days", "loss", "worst_day", "max_drawdown"} <= set(table)
    assert table["why"].tolist() == ["the data covers 2020-02-14 .. 2020-02-21"] * 2


def test_hypothetical_shocks():
    weights = pd.Series({"A": 0.5, "B": 0.3, "cash": 0.2})
    shocks = hypothetical_shocks(weights)
    assert shocks["loss"].tolist() == pytest.approx([-0.08, -0.15])
    assert shocks["shock"].tolist() == ["every asset -10%", "largest holding (A) -30%"]
