"""A dated cash rate: each quote in effect from its date, accrued by calendar days."""

import re

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data.rates import cash_rate_notes, load_cash_rate
from fin_hgrpo.errors import DataError

DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-08",
                          "2024-01-09"])


def _write(tmp_path, text: str):
    path = tmp_path / "DTB3.csv"
    path.write_text(text)
    return path


def test_each_bar_earns_the_quote_in_effect_at_its_start_for_its_calendar_days(tmp_path):
    path = _write(tmp_path, "observation_date,DTB3\n2023-12-29,5.20\n2024-01-01,.\n"
                            "2024-01-05,4.00\n2024-01-09,9.99\n")
    rate = load_cash_rate(path, DATES)
    assert list(rate.index) == list(DATES[1:])  # labelled by the bar's end
    # 01-02 -> 01-03: 5.20% for a day; -> 01-05: 5.20% for two (the new quote is from
    # 01-05, the bar's end); -> 01-08: 4% for three; -> 01-09: 4% for one (never 9.99)
    expected = [0.052 / 365, 0.052 * 2 / 365, 0.04 * 3 / 365, 0.04 / 365]
    np.testing.assert_allclose(rate.to_numpy(), expected, rtol=0, atol=1e-18)


def test_a_year_of_bars_earns_the_annual_rate(tmp_path):
    dates = pd.bdate_range("2023-01-02", "2024-01-02")
    rate = load_cash_rate(_write(tmp_path, "date,rate\n2022-12-30,5.0\n"), dates)
    assert rate.sum() == pytest.approx(0.05, abs=1e-15)


@pytest.mark.parametrize(("text", "message"), [
    ("date,a,b\n2024-01-01,1,2\n", "two columns, a date and the annual rate"),
    ("date,rate\n2024-01-01,five\n", "the rate on 2024-01-01 is not a percentage"),
    ("date,rate\n2024-01-01,525\n", "the rate on 2024-01-01 is not a percentage"),
    ("date,rate\n2024-01-01,-99\n", "between -10 and 100"),  # reliability.md N43
    ("date,rate\n2024-01-03,5\n", "first quote .2024-01-03. comes after the data's first "
                                  "day 2024-01-02"),
    ("date,rate\n2024-01-02,5\n2024-01-01,5\n", "increasing and unique"),
])
def test_a_bad_rate_file_is_refused_naming_the_file_and_date(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as error:
        load_cash_rate(path, DATES)
    assert str(path) in str(error.value)


def test_a_missing_rate_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere.csv: cash rate file not found"):
        load_cash_rate(tmp_path / "nowhere.csv", DATES)


YEARS = pd.bdate_range("2014-01-02", "2024-11-29")


@pytest.mark.parametrize(("text", "note"), [  # reliability.md N40, N41
    ("date,rate\n2014-01-01,0.05\n2020-01-01,0.02\n", "every rate is below 1% a year"),
    ("date,rate\n2014-01-01,5\n2014-12-31,4\n", "the last quote .2014-12-31. is 3621 days"),
    ("date,rate\n2014-01-01,5\n2014-01-02,5\n2014-01-03,5\n2014-01-06,5\n2014-01-07,5\n"
     "2023-01-02,4\n2024-11-28,4\n", "no quote from 2014-01-07 to 2023-01-02"),
])
def test_a_rate_file_in_fractions_stale_or_with_a_gap_is_noted(tmp_path, text, note):
    notes = cash_rate_notes(_write(tmp_path, text), YEARS)
    assert len(notes) == 1 and "DTB3.csv" in notes[0]
    assert re.search(note, notes[0])


def test_a_daily_rate_file_in_percent_brings_no_note(tmp_path):
    quotes = pd.Series(np.linspace(0.1, 5.3, len(YEARS)), index=YEARS)
    path = tmp_path / "DTB3.csv"
    quotes.rename_axis("date").rename("rate").to_csv(path)
    assert cash_rate_notes(path, YEARS) == []
