"""Many universes: distinct seeded draws, one walk-forward each, resumed after a kill,
and the distribution of every strategy's difference against the baseline."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures import performance
from fin_hgrpo.studies.universes import draw_universes, summarise
from fin_hgrpo.walkforward.results import BacktestResult

ENV = """
features = [{ name = "log_return" }]
window = 5
[data]
source = "synthetic:iid"
n_assets = 6
n_days = 700
seed = 4
[costs]
bps = 10.0
"""

SPEC = """
name = "many"
env = "envs/six.toml"
tearsheets = false
benchmark = "benchmark"
baseline = "equal_weight"
[universes]
count = 3
size = 3
seed = 1
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "equal_weight"
name = "twin"
[[strategies]]
kind = "inverse_volatility"
lookback = 40
[[strategies]]
kind = "benchmark"
ticker = "S0"
"""


def test_draws_are_distinct_seeded_subsets():
    tickers = [f"T{i}" for i in range(8)]
    drawn = draw_universes(tickers, 12, 4, seed=3)
    assert len({tuple(u) for u in drawn}) == 12
    assert all(len(u) == 4 and set(u) <= set(tickers) for u in drawn)
    assert all(u == sorted(u, key=tickers.index) for u in drawn)  # the panel's order
    assert drawn == draw_universes(tickers, 12, 4, seed=3)
    assert drawn != draw_universes(tickers, 12, 4, seed=4)
    assert len(draw_universes(tickers[:4], 4, 3, seed=0)) == 4  # all four that exist


@pytest.mark.parametrize(("count", "size", "message"), [  # reliability.md N54, N56
    (0, 3, "--universes 0: many universes means at least 2"),
    (1, 3, "--universes 1: many universes means at least 2"),
    (2, 9, "--size 9: universes of 2 to 8 tickers"),
    (2, 1, "--size 1: universes of 2 to 8 tickers"),
    (3, 8, "--universes 3: only 1 distinct universes of 8 exist among 8 tickers"),
])
def test_impossible_draws_are_refused_before_any_work(count, size, message):
    with pytest.raises(SpecError, match=message):
        draw_universes([f"T{i}" for i in range(8)], count, size, seed=0)


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("universes")
    (folder / "envs").mkdir()
    (folder / "envs" / "six.toml").write_text(ENV)
    (folder / "many.toml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["backtest", "many.toml", "--workers", "1", "--out", "out"]) == 0
    return folder / "out"


def test_each_universe_is_a_backtest_of_its_own_tickers(many):
    universes = pd.read_csv(many / "universes.csv")
    assert list(universes["universe"]) == ["u00", "u01", "u02"]
    for name, tickers in zip(universes["universe"], universes["tickers"], strict=True):
        result = BacktestResult.read(many / name)
        held = result.weights["inverse_volatility"].columns.drop("cash")
        assert list(held) == tickers.split()
        assert json.loads((many / name / "run.json").read_text())["name"] == f"many_{name}"


def test_the_summary_is_the_mean_over_universes_with_an_interval_over_both(many):
    summary = pd.read_csv(many / "summary.csv", index_col="strategy")
    assert set(summary.index) == {"twin", "inverse_volatility", "benchmark"}
    twin = summary.loc["twin"]
    assert (twin["mean_difference"], twin["low"], twin["high"]) == (0.0, 0.0, 0.0)
    gaps = []
    for name in ("u00", "u01", "u02"):
        returns = BacktestResult.read(many / name).returns.dropna()
        gaps.append(performance.sharpe(returns["inverse_volatility"])
                    - performance.sharpe(returns["equal_weight"]))
    row = summary.loc["inverse_volatility"]
    assert row["mean_difference"] == pytest.approx(np.mean(gaps), rel=1e-9)
    assert row["wins"] == pytest.approx(np.mean(np.array(gaps) > 0))
    assert row["low"] < row["mean_difference"] < row["high"]
    by_universe = pd.read_csv(many / "by_universe.csv")
    assert len(by_universe) == 3 * 4  # every strategy, the baseline too, in each
    page = (many / "report.html").read_text()
    assert "Against equal_weight across universes" in page and "u02" in page


def test_a_second_run_resumes_instead_of_running_universes_again(many, monkeypatch):
    folder = many.parent
    stamp = (many / "u01" / "returns.csv").stat().st_mtime_ns
    monkeypatch.chdir(folder)
    assert main(["backtest", "many.toml", "--workers", "1", "--out", "out"]) == 0
    assert (many / "u01" / "returns.csv").stat().st_mtime_ns == stamp


def test_the_bootstrap_widens_with_fewer_days():
    """Resampling days as well as universes: a shorter history, a wider interval."""
    rng = np.random.default_rng(0)
    results = {}
    for k in range(4):
        days = pd.bdate_range("2020-01-01", periods=400)
        returns = pd.DataFrame({"equal_weight": rng.normal(4e-4, 0.01, 400)}, index=days)
        returns["other"] = returns["equal_weight"] + rng.normal(1e-4, 0.004, 400)
        seeds = pd.DataFrame({"strategy": ["equal_weight", "other"]},
                             index=["equal_weight", "other"])
        results[f"u{k}"] = BacktestResult(returns, returns * 0, {}, pd.DataFrame(), seeds,
                                          pd.DataFrame(), info={"baseline": "equal_weight"})
    wide = summarise({k: _cut(r, 100) for k, r in results.items()}).loc["other"]
    narrow = summarise(results).loc["other"]
    assert narrow["high"] - narrow["low"] < wide["high"] - wide["low"]


def _cut(result: BacktestResult, days: int) -> BacktestResult:
    return BacktestResult(result.returns.iloc[:days], result.turnover.iloc[:days], {},
                          result.metrics, result.seeds, result.folds, info=result.info)


def test_a_folder_of_universes_drawn_otherwise_is_not_resumed_from(many, monkeypatch, capsys):
    folder = many.parent
    (folder / "other.toml").write_text(SPEC.replace("seed = 1", "seed = 2"))
    monkeypatch.chdir(folder)
    assert main(["backtest", "other.toml", "--workers", "1", "--out", "out"]) != 0
    assert "holds the universe" in capsys.readouterr().err


def test_universes_are_drawn_from_a_yfinance_universe_a_user_names(recorder, tmp_path,
                                                                   monkeypatch):
    """yfinance (recorded frames, no network): its OHLC bars price each trade at the
    estimated spread, and the universes come from the tickers the env names."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "yahoo.toml").write_text(
        'features = [{ name = "log_return" }]\nwindow = 5\n[data]\n'
        'source = "yfinance:AAPL,JPM,XOM@2019-01-02:2023-03-31"\n'
        f'cache_dir = "{tmp_path / "cache"}"\n[costs]\nbps = 1.0\nspread = "edge"\n')
    (tmp_path / "yahoo.toml").write_text(
        'name = "yahoo"\nenv = "envs/yahoo.toml"\ntearsheets = false\nbenchmark = "benchmark"\n'
        "[universes]\ncount = 2\nsize = 2\n"
        "[walk_forward]\ntrain_days = 300\ntest_days = 200\nembargo_days = 2\n"
        '[[strategies]]\nkind = "equal_weight"\n[[strategies]]\nkind = "inverse_volatility"\n'
        'lookback = 60\n[[strategies]]\nkind = "benchmark"\nticker = "SPY"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "yahoo.toml", "--workers", "1", "--out", "out"]) == 0
    drawn = pd.read_csv(tmp_path / "out" / "universes.csv")["tickers"].str.split()
    assert len(drawn) == 2 and all(set(t) < {"AAPL", "JPM", "XOM"} for t in drawn)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", index_col="strategy")
    assert set(summary.index) == {"inverse_volatility", "benchmark"}
