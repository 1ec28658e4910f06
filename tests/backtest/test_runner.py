import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestSpec, read_results, run_backtest, save_backtest
from fin_hgrpo.backtest.report import write_report, write_tearsheets
from fin_hgrpo.cli import main
from fin_hgrpo.errors import SpecError

FLAKY = '''
import numpy as np
from fin_hgrpo.strategies import Strategy, equal_weights

class Flaky(Strategy):
    """1/N, but its fit fails once the training window reaches past ``fail_after``."""
    def __init__(self, fail_after):
        self.fail_after = fail_after
    def fit(self, train):
        if str(train.dates[-1].date()) > self.fail_after:
            raise ValueError("flaky broke on purpose")
    def weights(self, decision):
        return equal_weights(len(decision.tickers))
'''

SPEC = """
name = "tiny"
env = "envs/tiny.toml"
benchmark = "benchmark"
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


@pytest.fixture
def spec_file(workspace: Path) -> Path:
    (workspace / "strategies" / "flaky.py").write_text(FLAKY)
    path = workspace / "backtests" / "tiny.toml"
    path.parent.mkdir()
    path.write_text(SPEC)
    return path


def test_walk_forward_writes_every_result_and_survives_a_failing_strategy(spec_file):
    result = run_backtest(BacktestSpec.load(spec_file), workers=1, progress=False)
    out = save_backtest(result, "backtests/results/tiny", tearsheets=False)
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=True)
    assert list(returns) == ["hybrid_grpo", "equal_weight", "min_variance", "benchmark", "flaky"]
    folds = pd.read_csv(out / "folds.csv")
    n_folds = folds["fold"].nunique()
    assert n_folds == 4 and len(returns) == 4 * 120  # stitched, no overlap, no gaps
    failed = folds[folds["error"].notna()]
    assert set(failed["strategy"]) == {"flaky"} and 0 < len(failed) < n_folds
    assert failed["error"].str.contains("flaky broke on purpose").all()
    assert "Traceback" in (out / "errors.txt").read_text()
    assert returns["flaky"].isna().sum() == 120 * len(failed)
    assert returns.drop(columns="flaky").notna().all().all()
    table = pd.read_csv(out / "metrics.csv", index_col="strategy")
    for column in ("cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                   "var_95", "cvar_95", "turnover", "psr", "dsr", "beta",
                   "sharpe_vs_baseline_low"):
        assert table[column].notna().all(), column
    assert table.loc["benchmark", "beta"] == pytest.approx(1.0)
    weights = pd.read_csv(out / "weights" / "min_variance.csv", index_col="date")
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert sorted(p.name for p in (out / "training").iterdir()) == [
        f"hybrid_grpo_fold{k}.csv" for k in range(4)]
    page = (out / "report.html").read_text()
    assert "flaky broke on purpose" in page and "data:image/png;base64," in page
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"equity.png", "drawdowns.png", "rolling_sharpe.png", "significance.png",
            "training.png", "weights_hybrid_grpo.png"} <= plots
    assert json.loads((out / "run.json").read_text())["folds"] == 4


def test_same_seed_same_results_with_one_or_two_workers(spec_file):
    spec = BacktestSpec.load(spec_file)
    one = run_backtest(spec, quick=True, workers=1, progress=False)
    two = run_backtest(spec, quick=True, workers=2, progress=False)
    pd.testing.assert_frame_equal(one.returns, two.returns, check_exact=True)
    pd.testing.assert_frame_equal(one.metrics, two.metrics, check_exact=True)
    assert one.folds["fold"].nunique() == 1


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
    assert main(["backtest", str(spec_file), "--quick", "--workers", "1", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "report: backtests/results/cli/report.html" in printed
    assert "failed: flaky, fold 3" in printed  # in the one quick fold: no returns at all
    page = Path(out, "report.html")
    page.unlink()
    (Path(out) / "plots" / "equity.png").unlink()
    assert main(["report", out]) == 0
    assert page.is_file() and (Path(out) / "plots" / "equity.png").is_file()
    assert list(read_results(out).returns) == ["hybrid_grpo", "equal_weight",
                                               "min_variance", "benchmark"]


def test_tearsheets_without_font_warnings(spec_file, caplog):
    spec = BacktestSpec.load(spec_file)
    result = run_backtest(spec.model_copy(update={"strategies": spec.strategies[1:4]}),
                          quick=True, workers=1, progress=False)
    out = save_backtest(result, "backtests/results/sheets", tearsheets=False)
    with caplog.at_level(logging.WARNING):
        written = write_tearsheets(out)
        write_report(out)
    assert [p.name for p in written] == ["equal_weight.html", "min_variance.html",
                                         "benchmark.html"]
    assert "findfont" not in caplog.text
    assert "tearsheets/benchmark.html" in (out / "report.html").read_text()


def test_report_of_a_folder_that_is_not_a_result(tmp_path):
    assert main(["report", str(tmp_path)]) == 2


def test_plan_runs_a_warm_started_agent_through_its_folds_in_order(spec_file):
    from fin_hgrpo.backtest.runner import plan

    text = SPEC.replace("steps = 256", "steps = 256\nwarm_start = true")
    spec_file.write_text(text.replace('name = "tiny"', 'name = "tiny"\nseeds = [0, 1]'))
    spec = BacktestSpec.load(spec_file)
    folds = spec.walk_forward.splitter().split(spec.env_spec().load_panel().dates)
    tasks = plan(spec, folds)
    agents = [t for t in tasks if t.column.startswith("hybrid_grpo")]
    assert [(t.column, len(t.folds)) for t in agents] == [("hybrid_grpo_seed0", 4),
                                                          ("hybrid_grpo_seed1", 4)]
    assert sum(t.column == "equal_weight" for t in tasks) == 4  # baselines: once per fold
