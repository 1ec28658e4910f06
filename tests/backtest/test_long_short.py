"""A long-short book through a whole backtest: its cost files, its report section,
and ruin named in the verdict."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.reports.backtest import write_report
from fin_hgrpo.reports.book import book_table, exposures
from fin_hgrpo.walkforward.results import BacktestResult
from tests.conftest import TINY_ENV

BOOK = """
[constraints]
long_short = true
min_weight = -0.5
net = [0.0, 1.0]
gross_max = 1.5
[costs]
bps = 10.0
borrow_bps_year = 300.0
financing_spread_bps_year = 200.0
cash_rate = "rates.csv"
"""
# a dated cash rate, FRED's layout: cash earned 2% a year, then 5% from mid-2011
RATES = "observation_date,DTB3\n2009-12-31,2.00\n2011-01-03,.\n2011-06-01,5.00\n"

SPEC = """
name = "tiny_long_short"
env = "envs/tiny_long_short.toml"
tearsheets = false
baseline = "cash"
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
[[strategies]]
kind = "cash"
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "long_short_momentum"
lookback = 60
skip = 5
top_k = 1
[[strategies]]
kind = "long_short_min_variance"
lookback = 100
gross = 1.5
rebalance = "weekly"
[[strategies]]
kind = "benchmark"
ticker = "S1"
"""


@pytest.fixture(scope="module")
def long_short(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("long_short")
    (folder / "envs").mkdir()
    (folder / "backtests").mkdir()
    (folder / "envs" / "tiny_long_short.toml").write_text(
        TINY_ENV.replace("[costs]\nbps = 10.0\n", "") + BOOK)
    (folder / "backtests" / "tiny_long_short.toml").write_text(SPEC)
    (folder / "rates.csv").write_text(RATES)
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["backtest", "backtests/tiny_long_short.toml", "--workers", "1",
                     "--out", str(out)]) == 0
    return out


def test_a_long_short_backtest_writes_what_each_run_paid(long_short):
    result = BacktestResult.read(long_short)
    assert set(result.costs) == {"cash", "equal_weight", "long_short_momentum",
                                 "long_short_min_variance"}  # the benchmark is long-only
    momentum = result.costs["long_short_momentum"]
    assert list(momentum.columns) == ["trading", "borrow", "financing"]
    assert (momentum["borrow"] > 0).mean() > 0.5  # short most days
    held = exposures(result.weights["long_short_momentum"])
    assert held["net"].abs().max() < 0.05 and held["short"].min() >= 0
    table = book_table(result)
    assert table.loc["cash", "gross"] == 0.0
    assert table.loc["long_short_momentum", "borrow_a_year"] == pytest.approx(
        momentum["borrow"].mean() * 252)
    assert table.loc["long_short_min_variance", "gross"] <= 1.5 + 0.05


def test_excess_returns_are_measured_over_the_dated_cash_rate_cash_earned(long_short):
    result = BacktestResult.read(long_short)
    assert result.info["cash_rate"] == "cash_rate.csv"
    days = result.rf.index.to_series().diff().dt.days.to_numpy()[1:]
    before = result.rf.index[1:] <= "2011-06-01"  # the bar starts before the new quote
    np.testing.assert_allclose(result.rf.to_numpy()[1:],
                               np.where(before, 0.02, 0.05) * days / 365, rtol=1e-12)
    # cash itself earns exactly the rate: no excess return at all
    np.testing.assert_allclose(result.returns["cash"], result.rf, rtol=0, atol=1e-15)
    held = result.returns["equal_weight"]
    above = held - result.rf
    assert result.seeds.loc["equal_weight", "sharpe"] == pytest.approx(
        above.mean() / above.std() * np.sqrt(252), rel=1e-12)
    assert "dated, by day: cash_rate.csv" in (long_short / "report.html").read_text()


def test_the_report_shows_the_book_and_names_a_ruined_run(long_short, tmp_path):
    page = (long_short / "report.html").read_text()
    assert "The book: exposure and what it cost" in page
    assert "borrow a year" in page and "0 of 1 runs" in page
    assert "exposure_long_short_momentum" in page
    assert "was ruined" not in page
    # a copy whose momentum lost everything on one day
    copy = Path(shutil.copytree(long_short, tmp_path / "copy"))
    returns = pd.read_csv(copy / "returns.csv", index_col=0, parse_dates=True)
    day = returns.index[40]
    returns.loc[day, "long_short_momentum"] = -1.0
    returns.loc[returns.index > day, "long_short_momentum"] = 0.0
    returns.to_csv(copy / "returns.csv")
    page = write_report(copy).read_text()
    assert f"<b>long_short_momentum</b> was ruined on {day.date()}" in page
    assert "1 of 1 runs" in page


def test_deployment_gives_signed_weights_and_the_trade_list(long_short, monkeypatch):
    from fin_hgrpo.deploy.targets import target_weights

    monkeypatch.chdir(long_short.parent)  # the env's files are the workspace's
    result = BacktestResult.read(long_short)
    targets = target_weights(long_short, "long_short_momentum", wealth=1e6)
    last = result.weights["long_short_momentum"].iloc[-1]
    assert (targets.weights < 0).any()
    assert targets.weights.sum() == pytest.approx(1.0)
    trades = targets.trades()
    short = targets.weights.drop("cash").idxmin()
    assert trades.loc[short, "to_weight"] < 0 and trades.loc[short, "notional"] == pytest.approx(
        trades.loc[short, "trade_weight"] * 1e6)
    assert set(targets.weights.index) == set(last.index)


def test_holdings_beyond_the_books_gross_are_refused(long_short, monkeypatch):
    """reliability.md N35: holdings of -1,000,000 and 1,000,001 times wealth gave trades
    a million times wealth."""
    from fin_hgrpo.deploy.targets import target_weights
    from fin_hgrpo.errors import DataError

    monkeypatch.chdir(long_short.parent)
    held = pd.Series({"S0": -1e6, "S1": 1e6 + 1, "cash": 0.0})
    with pytest.raises(DataError, match="gross exposure 2e\\+06 of wealth is beyond the "
                                        "book's gross_max 1.5"):
        target_weights(long_short, "long_short_momentum", holdings=held)


def test_shorted_holdings_are_refused_for_a_long_only_env(classical_run):
    from fin_hgrpo.deploy.targets import target_weights
    from fin_hgrpo.errors import DataError

    held = pd.Series({"AAPL": -0.1, "cash": 1.1})
    with pytest.raises(DataError, match=r"AAPL is short \(-0.1\), and the backtest's env is "
                                        "long-only"):
        target_weights(classical_run.folder, "equal_weight", holdings=held)


def test_a_backtest_with_impact_a_cap_and_an_estimated_spread_reports_them(
        tmp_path, monkeypatch):
    """Market data with OHLC bars and volume (a long CSV), a long-only portfolio of a
    size that moves prices: the costs file splits out impact and the days a cap held a
    trade back, and each ticker's trades pay half its estimated spread on top of bps."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2018-01-01", periods=700)
    frames = []
    for i, spread in enumerate((0.002, 0.01, 0.03)):
        ticks = 50 * np.exp(np.cumsum(rng.normal(0, 0.0015, (len(dates), 40)), axis=None)
                            ).reshape(len(dates), 40)
        ticks *= np.exp(rng.choice([-1, 1], ticks.shape) * spread / 2)
        frames.append(pd.DataFrame({
            "date": dates, "ticker": f"T{i}", "open": ticks[:, 0], "high": ticks.max(1),
            "low": ticks.min(1), "close": ticks[:, -1], "adj_close": ticks[:, -1],
            "volume": rng.uniform(2e4, 2e5, len(dates))}))
    pd.concat(frames).to_csv(tmp_path / "prices.csv", index=False)
    (tmp_path / "envs").mkdir()
    (tmp_path / "backtests").mkdir()
    (tmp_path / "envs" / "sized.toml").write_text(
        'features = [{ name = "log_return" }]\nwindow = 5\n[data]\nsource = "csv:prices.csv"\n'
        '[costs]\nbps = 5.0\nimpact = 1.0\naum = 2e8\nmax_participation = 0.1\n'
        'spread = "edge"\nspread_days = 63\n')
    (tmp_path / "backtests" / "sized.toml").write_text(
        'name = "sized"\nenv = "envs/sized.toml"\ntearsheets = false\n'
        "[walk_forward]\ntrain_days = 200\ntest_days = 120\nembargo_days = 2\n"
        '[[strategies]]\nkind = "equal_weight"\n[[strategies]]\nkind = "momentum"\n'
        'lookback = 60\nskip = 5\ntop_k = 1\n[[strategies]]\nkind = "benchmark"\n'
        'ticker = "T0"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "backtests/sized.toml", "--workers", "1", "--out", "out"]) == 0
    result = BacktestResult.read(tmp_path / "out")
    costs = result.costs["momentum"]
    assert list(costs.columns) == ["trading", "impact", "capped"]
    assert "benchmark" not in result.costs  # a reference, held at flat costs
    assert costs["impact"].sum() > 0 and costs["capped"].sum() > 0
    table = book_table(result)
    assert (table["impact_a_year"] > 0).all()
    assert table.loc["momentum", "capped_a_year"] > 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "impact a year" in page and "capped days a year" in page

    from fin_hgrpo.data.spreads import edge_half_spreads
    from fin_hgrpo.deploy.targets import target_weights
    from fin_hgrpo.envs import EnvSpec

    env = EnvSpec.load("envs/sized.toml")
    half = edge_half_spreads(env.load_panel(), 63)
    targets = target_weights(tmp_path / "out", "equal_weight")
    np.testing.assert_allclose(targets.cost_bps, 5.0 + 1e4 * half.loc[targets.date],
                               rtol=1e-12)
    assert list(targets.cost_bps.rank()) == [1.0, 2.0, 3.0]  # the wider, the dearer


def _book_workspace(folder: Path, book: str, strategies: str) -> None:
    (folder / "envs").mkdir()
    (folder / "backtests").mkdir()
    (folder / "envs" / "book.toml").write_text(TINY_ENV + book)
    (folder / "backtests" / "book.toml").write_text(
        'name = "book"\nenv = "envs/book.toml"\ntearsheets = false\n'
        "[walk_forward]\ntrain_days = 200\ntest_days = 120\nembargo_days = 2\n"
        "max_folds = 2\n" + strategies + '[[strategies]]\nkind = "benchmark"\nticker = "S1"\n')


BOOK_OF = "[constraints]\nlong_short = true\nmin_weight = {low}\nnet = {net}\ngross_max = {gross}\n"
NEUTRAL = BOOK_OF.format(low=-0.5, net="[0.0, 0.0]", gross=1.0)
NARROW = BOOK_OF.format(low=-0.1, net="[1.0, 1.0]", gross=1.4)


@pytest.mark.parametrize(("book", "strategies", "message"), [
    # N22: a market-neutral book (a documented common book) with the default 1/N baseline
    (NEUTRAL, '[[strategies]]\nkind = "equal_weight"\n[[strategies]]\nkind = "cash"\n',
     "strategy equal_weight cannot trade in this env .*net exposure 1 is outside 0..0"),
    # N23: a short leg of 0.2 under min_weight = -0.1
    (NARROW, '[[strategies]]\nkind = "equal_weight"\n[[strategies]]\n'
             'kind = "long_short_momentum"\nlookback = 60\nskip = 5\ntop_k = 1\nshort = 0.2\n',
     "strategy long_short_momentum cannot trade .*below its lower bound -0.1"),
    # N20: non-finite limits
    (NARROW.replace("[1.0, 1.0]", "[nan, nan]"), '[[strategies]]\nkind = "cash"\n',
     "key constraints.net.0: nan is not a finite number"),
    ("AUM", '[[strategies]]\nkind = "cash"\n', "key costs.aum: inf is not a finite number"),
])
def test_a_book_its_strategies_cannot_trade_is_refused_before_any_work(
        book, strategies, message, tmp_path, monkeypatch, capsys):
    _book_workspace(tmp_path, "" if book == "AUM" else book, strategies)
    if book == "AUM":
        (tmp_path / "envs" / "book.toml").write_text(
            TINY_ENV.replace("[costs]\n", "[costs]\naum = inf\n"))
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "backtests/book.toml", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not (tmp_path / "backtests" / "results").exists()


def test_a_levered_book_may_hold_more_than_its_wealth_in_one_asset(tmp_path, monkeypatch):
    """N21: ``max_weight = 1.2`` on a book (documented as allowed) was refused as if the
    portfolio were long-only."""
    _book_workspace(tmp_path, "[constraints]\nlong_short = true\nmin_weight = -0.3\n"
                    "max_weight = 1.2\nnet = [1.0, 1.0]\ngross_max = 1.6\n",
                    '[[strategies]]\nkind = "equal_weight"\n[[strategies]]\n'
                    'kind = "long_short_min_variance"\nlookback = 100\ngross = 1.6\n')
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "backtests/book.toml", "--workers", "1"]) == 0
