import json
import logging
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestResult, BacktestSpec, run_backtest, save_backtest
from fin_hgrpo.cli import main
from fin_hgrpo.errors import SpecError
from fin_hgrpo.reports.backtest import _training, write_report, write_tearsheets
from fin_hgrpo.strategies.rl import WarmStart
from fin_hgrpo.walkforward.tasks import PopulationTask, Task
from tests.conftest import write_tiny_workspace

FLAKY = '''
import numpy as np
from fin_hgrpo.strategies import Strategy, equal_weights

class Flaky(Strategy):
    """1/N, but its fit fails once the training window reaches past ``fail_after``."""
    def __init__(self, fail_after):
        self.fail_after = fail_after
    def fit(self, train):
        if str(train.dates[-1].date()) > self.fail_after:
            try:
                raise KeyError("the cause")
            except KeyError as cause:
                raise ValueError("flaky broke on purpose") from cause
    def weights(self, decision):
        return equal_weights(len(decision.tickers))
'''

SPEC = """
name = "tiny"
env = "envs/tiny.toml"
benchmark = "benchmark"
seeds = [0, 1]
tearsheets = false
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
[quick]
folds = 1
steps = 64
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo.toml"
steps = 256
ensemble = true
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "min_variance"
lookback = 100
rebalance = "weekly"
[[strategies]]
kind = "benchmark"
ticker = "S1"
[[strategies]]
kind = "custom"
path = "strategies/flaky.py:Flaky"
params = { fail_after = "2011-06-01" }
"""


def _write_spec(workspace: Path) -> Path:
    (workspace / "strategies" / "flaky.py").write_text(FLAKY)
    path = workspace / "backtests" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(SPEC)
    return path


@pytest.fixture
def spec_file(workspace: Path) -> Path:
    return _write_spec(workspace)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """The tiny spec's whole walk-forward, run and saved once for the tests that read it."""
    folder = tmp_path_factory.mktemp("runner")
    write_tiny_workspace(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = run_backtest(BacktestSpec.load(_write_spec(folder)), workers=1,
                              progress=False)
        yield save_backtest(result, folder / "backtests" / "results" / "tiny",
                            tearsheets=False)


class _Tables(HTMLParser):
    """The rows of each <table> of a page, as lists of cell texts, keyed by its class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("class", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._table is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def _tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_walk_forward_writes_every_result_and_survives_a_failing_strategy(saved):
    out = saved
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=True)
    assert list(returns) == ["hybrid_grpo_seed0", "hybrid_grpo_seed1", "hybrid_grpo_ensemble",
                             "equal_weight", "min_variance", "benchmark", "flaky"]
    folds = pd.read_csv(out / "folds.csv")
    n_folds = folds["fold"].nunique()
    assert n_folds == 4 and len(returns) == 4 * 120  # stitched, no overlap, no gaps
    failed = folds[folds["error"].notna()]
    assert set(failed["strategy"]) == {"flaky"} and 0 < len(failed) < n_folds
    assert failed["error"].str.contains("flaky broke on purpose").all()
    assert "Traceback" in (out / "errors.txt").read_text()
    # a chained exception's traceback has blank lines: still one error per failed fold
    assert len(BacktestResult.read(out).errors) == len(failed)
    assert returns["flaky"].isna().sum() == 120 * len(failed)
    assert returns.drop(columns="flaky").notna().all().all()
    table = pd.read_csv(out / "metrics.csv", index_col="strategy")
    assert list(table.index) == ["hybrid_grpo", "hybrid_grpo_ensemble", "equal_weight",
                                 "min_variance", "benchmark", "flaky"]
    for column in ("cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                   "var_95", "cvar_95", "turnover", "psr", "dsr", "beta",
                   "sharpe_vs_baseline_low", "sharpe_seed_mean", "sharpe_seed_std"):
        assert table[column].notna().all(), column
    assert table.loc["benchmark", "beta"] == pytest.approx(1.0)
    weights = pd.read_csv(out / "weights" / "min_variance.csv", index_col="date")
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert sorted(p.name for p in (out / "training").iterdir()) == sorted(
        f"hybrid_grpo_seed{s}_fold{k}.csv" for s in (0, 1) for k in range(4))
    page = (out / "report.html").read_text()
    assert "flaky broke on purpose" in page and "data:image/png;base64," in page
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"equity.png", "drawdowns.png", "rolling_sharpe.png", "significance.png",
            "seed_sharpes.png", "training.png", "weights_hybrid_grpo_seed0.png"} <= plots
    assert json.loads((out / "run.json").read_text())["folds"] == 4


def test_seeds_are_rows_of_seeds_csv_and_an_agents_figures_are_their_means(saved):
    out = saved
    seeds = pd.read_csv(out / "seeds.csv", index_col="run")
    table = pd.read_csv(out / "metrics.csv", index_col="strategy")
    agent = seeds[seeds["strategy"] == "hybrid_grpo"]
    assert agent["seed"].tolist() == [0, 1]
    for column in ("sharpe", "cagr", "turnover", "max_drawdown", "dsr"):
        assert table.loc["hybrid_grpo", column] == pytest.approx(agent[column].mean())
    sharpes = agent["sharpe"]
    assert table.loc["hybrid_grpo", "sharpe_seed_std"] == pytest.approx(sharpes.std(ddof=1))
    assert (table.loc["hybrid_grpo", "sharpe_seed_min"],
            table.loc["hybrid_grpo", "sharpe_seed_max"]) == (sharpes.min(), sharpes.max())
    assert table.loc["equal_weight", "sharpe_seed_std"] == 0.0
    assert table.loc["equal_weight", "seeds"] == 1
    # the ensemble trades the mean of the seeds' targets: a strategy of its own, not the
    # mean of their returns
    ensemble = returns_of(out, "hybrid_grpo_ensemble")
    mean_of_returns = returns_of(out, ["hybrid_grpo_seed0", "hybrid_grpo_seed1"]).mean(axis=1)
    assert not np.allclose(ensemble, mean_of_returns)
    assert table.loc["hybrid_grpo_ensemble", "seeds"] == 1


def returns_of(out: Path, columns) -> pd.DataFrame:
    return pd.read_csv(out / "returns.csv", index_col="date", parse_dates=True)[columns]


def test_report_tables_hold_exactly_the_real_rows(saved):
    out = saved
    tables = _tables((out / "report.html").read_text())
    summary = tables["numbers summary"]
    strategies = ["hybrid_grpo", "hybrid_grpo_ensemble", "equal_weight", "min_variance",
                  "benchmark", "flaky"]
    assert len(summary) == 1 + len(strategies)
    assert sorted(row[0] for row in summary[1:]) == sorted(strategies)
    assert len(summary[0]) == 9  # the columns a reader needs; the rest is in metrics.csv
    agent = next(row for row in summary if row[0] == "hybrid_grpo")
    assert "±" in agent[4] and agent[1] == "2"
    # active share against the baseline: none for the baseline, the metric for the agent
    share = summary[0].index("Active share")
    baseline = next(row for row in summary if row[0] == "equal_weight")
    assert baseline[share] == "0.0%"
    table = pd.read_csv(out / "metrics.csv", index_col="strategy")
    assert agent[share] == f"{table.loc['hybrid_grpo', 'active_share']:.1%}"
    folds = tables["numbers folds"]
    assert [row[0] for row in folds[1:]] == ["0", "1", "2", "3"]  # one row per fold
    flaky = folds[0].index("flaky")
    failed_folds = set(pd.read_csv(out / "folds.csv").query("strategy == 'flaky' and "
                                                            "error.notna()")["fold"])
    for row in folds[1:]:
        assert (row[flaky] == "failed") == (int(row[0]) in failed_folds)
        assert all(cell != "failed" for i, cell in enumerate(row) if i != flaky)
    regimes = tables["numbers regimes"]
    assert [cell.split(" (")[0] for cell in regimes[0]] == ["Strategy", "bull", "sideways",
                                                            "bear"]
    assert sorted(row[0] for row in regimes[1:]) == sorted(set(strategies) - {"equal_weight"})
    returns = returns_of(out, "benchmark")
    labelled = sum(int(cell.split("(")[1].split()[0]) for cell in regimes[0][1:])
    assert labelled == len(returns) - 126  # every test day after the first half year
    page = (out / "report.html").read_text()
    assert "Against equal_weight by market regime" in page
    assert "Verdict" in page and "seeds' Sharpe ratios range from" in page
    assert "departs from equal_weight by an active share of" in page
    assert "Active share: how far the weights held depart from the baseline" in page


def test_folds_are_one_continuous_investment(workspace):
    """Holdings carry across fold boundaries: buy-and-hold buys once per backtest."""
    spec = BacktestSpec.model_validate({
        "name": "carry", "env": "envs/tiny.toml", "benchmark": None, "tearsheets": False,
        "walk_forward": {"train_days": 200, "test_days": 120, "embargo_days": 2},
        "strategies": [{"kind": "buy_and_hold"}, {"kind": "equal_weight"},
                       {"kind": "equal_weight", "name": "banded", "min_trade": 0.02}]})
    result = run_backtest(spec, workers=1, progress=False)
    turnover = result.turnover
    assert (turnover["buy_and_hold"] > 1e-12).sum() == 1  # rounding aside
    assert turnover["buy_and_hold"].iloc[0] == pytest.approx(1.0)
    assert turnover["equal_weight"].iloc[120] < 0.1  # no re-entry at the second fold
    # the no-trade band skips small trades, so it trades less often
    assert (turnover["banded"] > 1e-12).sum() < (turnover["equal_weight"] > 1e-12).sum()


@pytest.mark.parametrize("edit, message", [
    (('spec = "strategies/hgrpo.toml"', 'spec = "strategies/nope.toml"'),
     r"key strategies.0.spec: strategies/nope.toml: spec file not found"),
    (('path = "strategies/flaky.py:Flaky"', 'path = "strategies/flaky.py:Nope"'),
     r"key strategies.4.path: .*no class Nope"),
    (('lookback = 100', 'look_back = 100'), r"key strategies.2.min_variance.look_back"),
    (('env = "envs/tiny.toml"', 'env = "envs/gone.toml"'), r"key env: envs/gone.toml"),
    (('benchmark = "benchmark"', 'benchmark = "spy"'), r"key benchmark: no strategy named"),
    (('test_days = 120', 'test_days = 120\nstep_days = 60'), r"key walk_forward: .*overlap"),
])
def test_a_bad_spec_fails_before_any_work_naming_file_and_key(spec_file, edit, message):
    spec_file.write_text(SPEC.replace(*edit))
    with pytest.raises(SpecError, match=rf"tiny.toml: {message}"):
        BacktestSpec.load(spec_file)


def test_report_is_rebuilt_from_the_csvs(spec_file, capsys):
    out = "backtests/results/cli"
    assert main(["backtest", str(spec_file), "--quick", "--workers", "1", "--out", out,
                 "--seeds", "3-4"]) == 0
    printed = capsys.readouterr().out
    assert "report: backtests/results/cli/report.html" in printed
    assert "failed: flaky, fold 3" in printed  # in the one quick fold: no returns at all
    page = Path(out, "report.html")
    page.unlink()
    (Path(out) / "plots" / "equity.png").unlink()
    assert main(["report", out]) == 0
    assert page.is_file() and (Path(out) / "plots" / "equity.png").is_file()
    assert list(BacktestResult.read(out).returns) == ["hybrid_grpo_seed3", "hybrid_grpo_seed4",
                                               "hybrid_grpo_ensemble", "equal_weight",
                                               "min_variance", "benchmark"]


@pytest.mark.slow  # quantstats tearsheets
def test_tearsheets_without_font_warnings(spec_file, caplog):
    spec = BacktestSpec.load(spec_file)
    result = run_backtest(spec.model_copy(update={"strategies": spec.strategies[1:2]}),
                          quick=True, workers=1, progress=False)
    out = save_backtest(result, "backtests/results/sheets", tearsheets=False)
    with caplog.at_level(logging.WARNING):
        written = write_tearsheets(out)
        write_report(out)
    assert [p.name for p in written] == ["equal_weight.html"]
    assert "findfont" not in caplog.text
    assert "tearsheets/equal_weight.html" in (out / "report.html").read_text()


def test_report_of_a_folder_that_is_not_a_result(tmp_path):
    assert main(["report", str(tmp_path)]) == 2


def test_plan_trains_an_agents_seeds_and_folds_as_populations_the_spec_sizes(spec_file):
    from fin_hgrpo.walkforward.tasks import plan

    spec = BacktestSpec.load(spec_file)
    folds = spec.walk_forward.splitter().split(spec.env_spec().load_panel().dates)
    [agent] = [t for t in plan(spec, folds) if isinstance(t, PopulationTask)]
    assert [(r.column, r.config.seed) for r in agent.runs] == [
        ("hybrid_grpo_seed0", 0), ("hybrid_grpo_seed1", 1)]
    assert agent.ensemble == "hybrid_grpo_ensemble" and len(agent.folds) == 4
    assert [len(p) for p in agent.populations()] == [8]  # 2 seeds x 4 folds at once
    warm = replace(agent, spec=agent.spec.model_copy(update={"warm_start": WarmStart()}))
    assert [[f.index for _, f in p] for p in warm.populations()] == [[0, 0], [1, 1], [2, 2],
                                                                     [3, 3]]
    assert [t.column for t in plan(spec, folds) if isinstance(t, Task)] == [
        "equal_weight", "min_variance", "benchmark", "flaky"]
    strategies = [s.model_copy(update={"ensemble": False}) for s in spec.strategies]
    split = spec.model_copy(update={"population_seeds": 2, "seeds": [0, 1, 2],
                                    "strategies": strategies})
    agents = [t for t in plan(split, folds) if isinstance(t, PopulationTask)]
    assert [[r.config.seed for r in t.runs] for t in agents] == [[0, 1], [2]]


def test_an_ensemble_needs_all_its_seeds_in_one_population(spec_file):
    spec = BacktestSpec.load(spec_file)
    with pytest.raises(ValueError, match="population_seeds = 1 splits the 2 seeds"):
        BacktestSpec.model_validate({**spec.model_dump(), "population_seeds": 1})


def test_a_yfinance_backtest_loads_its_benchmark_through_the_same_source(workspace, recorder,
                                                                          monkeypatch):
    """The review's M5: the env's tickers and dates are honoured, and SPY (not in the
    universe) comes from the same cache for the benchmark."""
    import yfinance

    from fin_hgrpo.data import load_yfinance

    load_yfinance(["AAPL", "JPM", "XOM", "SPY"], "2019-01-02", "2023-03-31",
                  cache_dir="data/cache")
    monkeypatch.setattr(yfinance, "download", None)  # from here on: the cache or nothing
    (workspace / "envs" / "yahoo.toml").write_text(
        'window = 5\nfeatures = [{ name = "log_return" }]\n[data]\n'
        'source = "yfinance:AAPL,JPM,MSFT@2019-01-02:2023-03-31"\n'
        'tickers = ["AAPL", "JPM", "XOM"]\nstart = 2020-01-02\noffline = true\n')
    spec = BacktestSpec.model_validate({
        "name": "yahoo", "env": "envs/yahoo.toml", "tearsheets": False,
        "walk_forward": {"train_days": 250, "test_days": 250, "embargo_days": 0},
        "strategies": [{"kind": "equal_weight"}, {"kind": "benchmark", "ticker": "SPY"}]})
    result = run_backtest(spec, workers=1, progress=False)
    assert result.info["benchmark"] == "benchmark" and not result.errors
    assert result.weights["equal_weight"].columns.tolist() == ["AAPL", "JPM", "XOM", "cash"]
    assert result.returns.index[0] >= pd.Timestamp("2021-01-01")  # after 250 training days
    assert result.metrics.loc["equal_weight", "beta"] > 0.5


def test_a_weekly_backtest_annualises_with_52_bars_a_year(workspace, tmp_path):
    """Weekly prices (from a CSV) are annualised as 52 bars a year everywhere: metrics,
    folds and the run's record, unless the env spec says otherwise."""
    prices = _random_prices(pd.date_range("2000-01-07", periods=600, freq="W-FRI"), seed=1)
    env, spec = _csv_backtest(workspace, tmp_path, prices, "weekly", train=104, test=104)
    result = run_backtest(spec, workers=1, progress=False)
    assert result.info["periods_per_year"] == 52
    r = result.returns["equal_weight"]
    from fin_hgrpo.measures import performance

    assert result.metrics.loc["equal_weight", "sharpe"] == pytest.approx(
        r.mean() / r.std() * np.sqrt(52))
    env.write_text(env.read_text().replace("window = 4", "window = 4\nperiods_per_year = 50"))
    overridden = run_backtest(spec, workers=1, progress=False).info
    assert overridden["periods_per_year"] == 50 and not any(
        "periods_per_year" in w for w in overridden["data_warnings"])
    env.write_text(env.read_text().replace("periods_per_year = 50", "periods_per_year = 252"))
    assert "periods_per_year = 252 in the env spec, but the dates have 52 bars a year" in \
        run_backtest(spec, workers=1, progress=False).info["data_warnings"][0]
    assert performance.volatility(r, 52) == pytest.approx(r.std() * np.sqrt(52))


def test_a_backtest_says_when_alignment_dropped_dates_and_when_names_are_survivors(
        workspace, tmp_path):
    """The review's M3: a ticker that stops trading truncates an inner-aligned panel;
    the run says so on the console, in run.json and in the report."""
    from fin_hgrpo.backtest.runner import data_notes
    from fin_hgrpo.envs import EnvSpec

    prices = _random_prices(pd.bdate_range("2015-01-01", periods=900), seed=2)
    prices.iloc[700:, 2] = np.nan  # C stops trading
    _, spec = _csv_backtest(workspace, tmp_path, prices, "dropped", train=300, test=200)
    result = run_backtest(spec, workers=1, progress=False)
    [warning] = result.info["data_warnings"]
    assert warning.startswith("alignment dropped 22% of the dates")
    out = save_backtest(result, "backtests/results/dropped", tearsheets=False)
    assert "alignment dropped 22% of the dates" in (out / "report.html").read_text()
    sample = EnvSpec.model_validate({"data": {"tickers": ["AAPL", "XOM"],
                                              "start": "2015-01-02"}})
    notes = data_notes(sample, sample.load_panel())
    assert any("survivors picked in hindsight" in w for w in notes["data_warnings"])


def test_a_bad_tick_is_a_warning_on_the_console_in_run_json_and_the_report(workspace,
                                                                          tmp_path):
    """A one-day x100 price (a bad tick) would give 1/N a CAGR of hundreds of percent:
    the run names the ticker and date wherever its figures are read."""
    prices = _random_prices(pd.bdate_range("2015-01-01", periods=900), seed=2)
    prices.iloc[800, 1] *= 100
    _, spec = _csv_backtest(workspace, tmp_path, prices, "badtick", train=300, test=200)
    result = run_backtest(spec, workers=1, progress=False)
    [tick] = [w for w in result.info["data_warnings"] if w.startswith("check the prices")]
    assert re.fullmatch(rf"check the prices: B: price x99\.\d on {prices.index[800].date()} "
                        r"and back the next day: a bad tick\?", tick)
    out = save_backtest(result, "backtests/results/badtick", tearsheets=False)
    assert tick in json.loads((out / "run.json").read_text())["data_warnings"]
    page = (out / "report.html").read_text()
    assert f"Data: {tick}</p>" in page  # a question ends the line as it is, not with "?."


def _random_prices(dates: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0005, 0.015, (len(dates), 3))
    return pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), index=dates.rename("date"),
                        columns=["A", "B", "C"])


def _csv_backtest(workspace: Path, tmp_path: Path, prices: pd.DataFrame, name: str, *,
                  train: int, test: int) -> tuple[Path, BacktestSpec]:
    """An env spec over ``prices`` written as a CSV, and a 1/N backtest of it."""
    prices.to_csv(tmp_path / f"{name}.csv")
    env = workspace / "envs" / f"{name}.toml"
    env.write_text(f'window = 4\nfeatures = [{{ name = "log_return" }}]\n'
                   f'[data]\nsource = "csv:{tmp_path / f"{name}.csv"}"\n')
    spec = BacktestSpec.model_validate({
        "name": name, "env": str(env), "benchmark": None, "tearsheets": False,
        "walk_forward": {"train_days": train, "test_days": test, "embargo_days": 0},
        "strategies": [{"kind": "equal_weight"}]})
    return env, spec


@pytest.mark.parametrize(("change", "message"), [
    (("window = 5", "window = 5000"), "too few for window 5000"),
    (("{ name = \"momentum\", window = 10 }", "{ name = \"momentum\", window = 5000 }"),
     "features needing"),
    (("[costs]", "[constraints]\nmax_weight = 0.2\ncash = false\n[costs]"),
     "cannot hold a fully invested portfolio"),
])
def test_an_env_the_data_cannot_serve_is_one_error_before_any_task(workspace, change, message,
                                                                   capsys):
    """reliability.md, defect 16: such an env used to fail inside every task and then
    crash the report with KeyError: 'sharpe'."""
    env = workspace / "envs" / "tiny.toml"
    env.write_text(env.read_text().replace(*change))
    (workspace / "backtests").mkdir(exist_ok=True)
    (workspace / "backtests" / "bad.toml").write_text(
        'name = "bad"\nenv = "envs/tiny.toml"\nbenchmark = "equal_weight"\n'
        'tearsheets = false\n[walk_forward]\n'
        'train_days = 300\ntest_days = 100\n[[strategies]]\nkind = "equal_weight"\n')
    assert main(["backtest", "backtests/bad.toml"]) == 2
    err = capsys.readouterr().err
    assert "error: envs/tiny.toml: " in err and message in err
    assert not (workspace / "backtests" / "results" / "bad").exists()


def test_a_max_weight_that_cannot_fill_a_universe_is_a_warning(workspace):
    """reliability.md, case 11: under max_weight 0.1 the benchmark became 10% of it and
    90% cash, silently."""
    env = workspace / "envs" / "tiny.toml"
    env.write_text(env.read_text().replace("[costs]", "[constraints]\nmax_weight = 0.1\n[costs]"))
    spec = BacktestSpec.model_validate({
        "name": "capped", "env": "envs/tiny.toml", "tearsheets": False,
        "walk_forward": {"train_days": 300, "test_days": 100, "max_folds": 1},
        "strategies": [{"kind": "equal_weight"}, {"kind": "benchmark", "ticker": "S1"}]})
    warnings = run_backtest(spec, workers=1, progress=False).info["data_warnings"]
    assert "max_weight 0.1 caps equal_weight's 3 asset(s) at 30% of wealth; the rest is " \
           "held as cash" in warnings
    assert any(w.startswith("max_weight 0.1 caps benchmark's 1 asset(s) at 10%")
               for w in warnings)


def test_windows_beyond_the_data_are_a_warning(workspace):
    """reliability.md #15: lookback = 100000 and top_k = 50 of 3 assets were capped
    silently (momentum then holds 1/N)."""
    spec = BacktestSpec.model_validate({
        "name": "oversized", "env": "envs/tiny.toml", "tearsheets": False,
        "benchmark": None, "baseline": None,
        "walk_forward": {"train_days": 300, "test_days": 100, "max_folds": 1},
        "strategies": [{"kind": "min_variance", "lookback": 100_000},
                       {"kind": "momentum", "top_k": 50}]})
    warnings = run_backtest(spec, workers=1, progress=False).info["data_warnings"]
    assert "min_variance: lookback 100000 is longer than the first training window (300 " \
           "days); it uses the days there are" in warnings
    assert "momentum: top_k 50 holds every one of the 3 assets: it ranks nothing" in warnings


def test_harm_against_the_baseline_is_in_metrics_csv_and_the_verdict(saved):
    out = saved
    table = pd.read_csv(out / "metrics.csv", index_col="strategy")
    seeds = pd.read_csv(out / "seeds.csv", index_col="run")
    folds = pd.read_csv(out / "folds.csv").pivot_table(index="fold", columns="run",
                                                       values="sharpe")
    for seed in (0, 1):
        run = f"hybrid_grpo_seed{seed}"
        beaten = (folds[run] > folds["equal_weight"]).mean()
        assert seeds.loc[run, "folds_beaten"] == pytest.approx(beaten)
    assert table.loc["hybrid_grpo", "folds_beaten"] == \
        pytest.approx(seeds.loc[["hybrid_grpo_seed0", "hybrid_grpo_seed1"],
                                "folds_beaten"].mean())
    below = (seeds.loc[["hybrid_grpo_seed0", "hybrid_grpo_seed1"], "sharpe"]
             < seeds.loc["equal_weight", "sharpe"]).mean()
    assert table.loc["hybrid_grpo", "seeds_below_baseline"] == below
    # four folds of 120 days hold no 3-year window
    assert table["worst_3y_vs_baseline"].isna().all()
    page = (out / "report.html").read_text()
    assert f"it beat equal_weight in {table.loc['hybrid_grpo', 'folds_beaten']:.0%} of the " \
        "test folds" in page
    assert f"{round(below * 2)} of its 2 runs' Sharpe ratios are below equal_weight's" in page


def test_training_curves_of_many_folds_are_coloured_on_a_scale_not_named(saved):
    result = BacktestResult.read(saved)
    few = _training(result)
    assert few.axes[0].get_legend() is not None  # 4 folds: named
    log = next(iter(result.training.values()))
    many = replace(result, training={f"hybrid_grpo_seed0_fold{k}": log for k in range(12)})
    figure = _training(many)
    assert figure.axes[0].get_legend() is None
    assert len(figure.axes) == 2  # the agent's curves and the fold scale
