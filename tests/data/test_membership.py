"""Membership and shortable files (ticker,start,end spells): every bad file is one error
naming the file, line and ticker (reliability.md N25, N26)."""

import pandas as pd
import pytest

from fin_hgrpo.data.membership import load_membership
from fin_hgrpo.errors import DataError

DATES = pd.bdate_range("2019-01-01", periods=5)


@pytest.mark.parametrize(("content", "message"), [
    (b"", r"s.csv: not a readable CSV file"),
    (bytes(range(256)) * 4, r"s.csv: not a readable CSV file"),
    (b"ticker,start,end\nA,2019-01-01T00:00+05:00,\n",
     r"s.csv, line 2 \(A\), start: '2019-01-01T00:00\+05:00' has a time zone"),
    (b"ticker,start,end\nA,,2019-01-03\n", r"s.csv, line 2 \(A\), start: '' is not a date"),
])
def test_a_bad_spells_file_is_one_error_naming_it(content, message, tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_membership(path, DATES, ["A"], what="shortable")
