from pathlib import Path

import pandas as pd
import pytest

from fin_hgrpo.data import load_sample
from fin_hgrpo.errors import DataError, SpecError
from fin_hgrpo.risk.sources import load_portfolio

ENV = "envs/default.toml"


def _weights_file(tmp_path, rows: dict, dates: list[str]) -> str:
    path = tmp_path / "weights.csv"
    pd.DataFrame(rows, index=pd.DatetimeIndex(dates, name="date")).to_csv(path)
    return str(path)


def test_a_weights_file_earns_its_weights_times_the_returns(tmp_path):
    dates = ["2020-01-02", "2020-06-01"]
    source = _weights_file(tmp_path, {"AAPL": [0.6, 0.2], "XOM": [0.4, 0.3],
                                      "cash": [0.0, 0.5]}, dates)
    portfolio = load_portfolio(source, ENV)
    returns = load_sample(["AAPL", "XOM"]).prices.pct_change()
    day = pd.Timestamp("2020-03-16")  # the first row, held until the second
    assert portfolio.returns[day] == pytest.approx(0.6 * returns.loc[day, "AAPL"]
                                                   + 0.4 * returns.loc[day, "XOM"])
    late = pd.Timestamp("2020-06-03")
    assert portfolio.returns[late] == pytest.approx(0.2 * returns.loc[late, "AAPL"]
                                                    + 0.3 * returns.loc[late, "XOM"])
    assert portfolio.weights.index[-1] == load_sample().dates[-1]


def test_bad_weights_files_fail_before_any_work_naming_the_problem(tmp_path):
    unknown = _weights_file(tmp_path, {"AAPL": [0.5], "NOPE": [0.5]}, ["2020-01-02"])
    with pytest.raises(DataError, match=r"tickers \['NOPE'\] are not in the prices"):
        load_portfolio(unknown, ENV)
    short = _weights_file(tmp_path, {"AAPL": [0.5], "XOM": [0.4]}, ["2020-01-02"])
    with pytest.raises(DataError, match="weights on 2020-01-02 must be >= 0 and sum to 1"):
        load_portfolio(short, ENV)
    weekend = _weights_file(tmp_path, {"AAPL": [0.5], "XOM": [0.5]}, ["2020-01-04"])
    with pytest.raises(DataError, match="date 2020-01-04 is not a trading date"):
        load_portfolio(weekend, ENV)
    with pytest.raises(SpecError, match="needs --env"):
        load_portfolio(weekend)
    with pytest.raises(SpecError, match="no such file"):
        load_portfolio(str(tmp_path / "gone.csv"), ENV)


def test_a_returns_file_has_no_weights(tmp_path):
    path = tmp_path / "returns.csv"
    pd.Series([0.01, -0.02, 0.005], name="fund",
              index=pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"],
                                     name="date")).to_csv(path)
    portfolio = load_portfolio(str(path), ENV)
    assert portfolio.weights is None and portfolio.returns.tolist() == [0.01, -0.02, 0.005]


def _returns_file(tmp_path, returns: pd.Series) -> str:
    path = tmp_path / "fund.csv"
    returns.rename("fund").rename_axis("date").to_csv(path)
    return str(path)


@pytest.mark.parametrize(("make", "message"), [
    (lambda r: r[::-1], "dates are not sorted"),
    (lambda r: r.iloc[::3], r"no return for 2024-01-03 \(\d+ trading days skipped\)"),
    (lambda r: r.set_axis(pd.date_range("2024-01-02", periods=len(r))),
     "2024-01-06 is not a trading day"),
    (lambda r: r * 100, "look like percentages or prices"),
    (lambda r: 100 * (1 + r).cumprod(), "look like percentages or prices"),
    (lambda r: r.where(r.index != "2024-01-05", -1.5), "a return of -1.5 on 2024-01-05"),
    (lambda r: r.astype(object).where(r.index != "2024-01-05", "abc"),
     "'abc' on 2024-01-05 is not a number"),
    (lambda r: r.where(r.index != "2024-01-05"), "no return for 2024-01-05"),
])
def test_a_returns_file_that_is_not_daily_fractions_is_refused_naming_the_day(tmp_path, make,
                                                                              message):
    """reliability.md, defect 10: each of these used to give a confident report (a CAGR
    of 20% for 11.6%, a drawdown of -3289%, a Sharpe of 111)."""
    dates = load_sample(["AAPL"], start="2024-01-02", end="2024-03-28").dates
    returns = pd.Series(0.01 * ((pd.RangeIndex(len(dates)) % 5) - 2), index=dates, dtype=float)
    with pytest.raises(DataError, match=message):
        load_portfolio(_returns_file(tmp_path, make(returns)), ENV)


def test_a_weights_file_with_shorts_needs_a_long_short_env(tmp_path):
    book = tmp_path / "book.toml"
    book.write_text(Path("envs/long_short.toml").read_text())
    source = _weights_file(tmp_path, {"AAPL": [1.2], "XOM": [-0.2], "cash": [0.0]},
                           ["2020-01-02"])
    with pytest.raises(DataError, match="shorts need an env with constraints.long_short"):
        load_portfolio(source, ENV)
    portfolio = load_portfolio(source, str(book))
    returns = load_sample(["AAPL", "XOM"]).prices.pct_change()
    day = pd.Timestamp("2020-03-16")
    assert portfolio.returns[day] == pytest.approx(1.2 * returns.loc[day, "AAPL"]
                                                   - 0.2 * returns.loc[day, "XOM"])
