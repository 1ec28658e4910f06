import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.data import load_csv, load_parquet
from fin_hgrpo.errors import DataError


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    long = wide.stack().rename("adj_close").rename_axis(["date", "ticker"]).reset_index()
    return long.assign(close=long["adj_close"] * 1.01, volume=1e6)


def test_wide_csv(tmp_path, wide_prices):
    path = tmp_path / "wide.csv"
    wide_prices.to_csv(path)
    panel = load_csv(path)
    assert panel.tickers == ("AAA", "BBB")
    np.testing.assert_array_equal(panel.prices.to_numpy(), wide_prices.to_numpy())
    assert panel.source == str(path)


def test_long_csv_keeps_fields_and_ignores_extra_columns(tmp_path, wide_prices):
    path = tmp_path / "long.csv"
    _long(wide_prices).assign(exchange="X").rename(columns={"adj_close": "Adj Close",
                                                            "ticker": "Symbol"}).to_csv(path)
    panel = load_csv(path)
    assert set(panel.fields) == {"adj_close", "close", "volume"}
    assert any("ignored columns" in note for note in panel.report.notes)
    assert panel.field("close").loc["2024-01-02", "AAA"] == pytest.approx(101.0)


def test_close_alone_is_used_as_price_and_said(tmp_path, wide_prices):
    path = tmp_path / "close.csv"
    _long(wide_prices).drop(columns="adj_close").to_csv(path, index=False)
    panel = load_csv(path)
    assert "adj_close taken from close" in panel.report.summary()


@pytest.mark.parametrize("index_as_date", [True, False])
def test_parquet_long_and_wide(tmp_path, wide_prices, index_as_date):
    wide_path, long_path = tmp_path / "wide.parquet", tmp_path / "long.parquet"
    (wide_prices if index_as_date else wide_prices.reset_index()).to_parquet(wide_path)
    _long(wide_prices).to_parquet(long_path)
    wide, long = load_parquet(wide_path), load_parquet(long_path)
    np.testing.assert_array_equal(wide.prices.to_numpy(), long.prices.to_numpy())


def test_file_that_is_neither_long_nor_wide(tmp_path):
    path = tmp_path / "odd.csv"
    pd.DataFrame({"when": ["2024-01-02"], "AAA": [1.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"odd.csv: neither long format .* nor wide format"):
        load_csv(path)


def test_long_file_without_a_price_column(tmp_path):
    path = tmp_path / "noprice.csv"
    pd.DataFrame({"date": ["2024-01-02"], "ticker": ["AAA"], "volume": [5.0]}).to_csv(path)
    with pytest.raises(DataError, match=r"noprice.csv: missing required column: adj_close"):
        load_csv(path)


def test_duplicate_row_in_long_file_names_ticker_and_date(tmp_path, wide_prices):
    path = tmp_path / "dup.csv"
    long = _long(wide_prices)
    pd.concat([long, long.iloc[[3]]]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"dup.csv, ticker \w+: duplicate date 2024-01-0\d"):
        load_csv(path)


def test_non_numeric_prices_name_the_column(tmp_path):
    path = tmp_path / "text.csv"
    pd.DataFrame({"date": ["2024-01-02"], "AAA": ["n/a?"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="text.csv: column AAA is not numeric"):
        load_csv(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="nothing.csv: file not found"):
        load_csv(tmp_path / "nothing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match="bad.parquet: not a readable parquet file"):
        load_parquet(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: not a readable CSV file"):
        load_csv(empty)


@pytest.mark.parametrize(("header", "message"), [
    ("date,AAPL,MSFT,AAPL", "the header names AAPL twice"),
    ("date,AAPL,,MSFT", "column 3 of the header has no name"),
])
def test_a_repeated_or_empty_header_is_refused_not_traded(tmp_path, header, message):
    path = tmp_path / "dup.csv"
    path.write_text(f"{header}\n2024-01-02,1,2,3\n2024-01-03,1.1,2.1,3.1\n")
    with pytest.raises(DataError, match=f"dup.csv: {message}"):
        load_csv(path)
