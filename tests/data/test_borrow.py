"""Dated borrow fees: a fee that is not a number of bps a year within bounds is refused
naming the ticker and date (reliability.md N29, N30)."""

import pandas as pd
import pytest

from fin_hgrpo.data.borrow import load_borrow_fees
from fin_hgrpo.errors import DataError

DATES = pd.bdate_range("2020-01-01", periods=5)


@pytest.mark.parametrize("fee", ["inf", "1e12", "-50", "abc"])
def test_a_fee_out_of_bounds_is_refused_naming_ticker_and_date(fee, tmp_path):
    path = tmp_path / "borrow.csv"
    path.write_text(f"date,A,default\n2020-01-01,50,{fee}\n")
    with pytest.raises(DataError, match=r"borrow.csv: the fee for default on 2020-01-01 is "
                                        r"not a number of bps a year within 0 .. 100000"):
        load_borrow_fees(path, DATES, ["A", "B"])


def test_fees_in_bounds_are_read_per_ticker_and_day(tmp_path):
    path = tmp_path / "borrow.csv"
    path.write_text("date,A,default\n2020-01-01,50,300\n2020-01-03,75,300\n")
    fees = load_borrow_fees(path, DATES, ["A", "B"])
    assert fees[:, 0].tolist() == [50, 50, 75, 75, 75] and (fees[:, 1] == 300).all()
