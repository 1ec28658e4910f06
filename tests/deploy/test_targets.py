"""fin-hgrpo weights: a backtest's strategies act again after (and inside) the last
test window; inside it they give the backtest's own weights, bit for bit."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.deploy.targets import read_holdings, target_weights
from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError
from fin_hgrpo.walkforward import shrunk
from tests.conftest import write_tiny_workspace

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
max_folds = 2
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo.toml"
steps = 256
ensemble = true
shrink = "skill"
[[strategies]]
kind = "agent"
name = "tilted"
spec = "strategies/tilted.toml"
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
"""
TILTED = """
[agent]
algorithm = "ppo"
hidden = 16
n_envs = 8
n_steps = 4
distribution = "tilt"
base = "equal_weight"
trade_rate = 0.5
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> tuple[Path, Path]:
    """One backtest for the module (its tests read it; one edits the env spec and puts
    it back): the workspace it ran in, where the module's tests run, and its results."""
    workspace = tmp_path_factory.mktemp("deployed")
    write_tiny_workspace(workspace)
    (workspace / "strategies" / "tilted.toml").write_text(TILTED)
    (workspace / "backtests").mkdir()
    (workspace / "backtests" / "tiny.toml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        # the twins keep half the tilt wherever a past exists: the replay must too
        patch.setattr(shrunk, "skill_kappa",
                      lambda active, base=None: 0.5 if len(active) > 20 else 0.0)
        assert main(["backtest", "backtests/tiny.toml", "--workers", "1"]) == 0
        yield workspace, workspace / "backtests" / "results" / "tiny"


@pytest.fixture
def results(deployed) -> Path:
    return deployed[1]


def test_inside_the_last_test_window_every_run_gives_the_backtests_weights(results):
    state = json.loads((results / "deploy" / "state.json").read_text())
    assert {"hybrid_grpo_seed0", "hybrid_grpo_seed1", "hybrid_grpo_ensemble", "tilted_seed0",
            "hybrid_grpo_shrunk_seed1", "hybrid_grpo_shrunk_ensemble",
            "equal_weight", "min_variance", "benchmark"} <= set(state["runs"])
    assert state["runs"]["hybrid_grpo_shrunk_seed1"]["kappa"] == 0.5
    for run in state["runs"]:
        held = pd.read_csv(results / "weights" / f"{run}.csv", index_col=0, parse_dates=True)
        held = held[held.index >= state["fold"]["test_start"]]
        for date in (held.index[0], held.index[1], held.index[len(held) // 2], held.index[-1]):
            targets = target_weights(results, run, asof=date)
            assert targets.date == date
            np.testing.assert_array_equal(targets.weights.to_numpy(), held.loc[date].to_numpy(),
                                          err_msg=f"{run} on {date.date()}")


def test_an_agents_name_means_its_ensemble_and_the_default_is_the_first_strategy(results):
    assert target_weights(results).strategy == "hybrid_grpo_ensemble"
    assert target_weights(results, "tilted").strategy == "tilted_seed0"


def test_after_the_backtest_the_command_writes_weights_and_trades(results, tmp_path, capsys):
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("ticker,weight\nS0,0.5\nS2,0.3\ncash,0.2\n")
    out = tmp_path / "out"
    assert main(["weights", str(results), "--strategy", "tilted", "--holdings", str(holdings),
                 "--wealth", "100000", "--out", str(out)]) == 0
    assert "tilted_seed0: target weights at the close of" in capsys.readouterr().out
    weights = pd.read_csv(out / "weights.csv")
    assert list(weights.columns) == ["ticker", "weight"]
    assert list(weights["ticker"]) == ["S0", "S1", "S2", "cash"]
    assert weights["weight"].sum() == pytest.approx(1.0)
    trades = pd.read_csv(out / "trades.csv", index_col="ticker")
    assert trades["from_weight"].to_dict() == {"S0": 0.5, "S1": 0.0, "S2": 0.3, "cash": 0.2}
    assert trades["notional"].to_numpy() == pytest.approx(trades["trade_weight"] * 100_000)
    assert trades.loc["S0", "cost"] == pytest.approx(abs(trades.loc["S0", "notional"]) * 1e-3)
    assert trades.loc["cash", "cost"] == 0
    summary = json.loads((out / "weights.json").read_text())
    assert summary["strategy"] == "tilted_seed0" and summary["wealth"] == 100_000
    # half-way trading: from these holdings the agent moves half of the way to its policy
    own = target_weights(results, "tilted")
    assert not np.allclose(own.weights, pd.read_csv(out / "weights.csv")["weight"])


def test_shares_are_the_notional_at_the_close(results, tmp_path):
    targets = target_weights(results, "equal_weight", wealth=1000.0)
    trades = targets.trades()
    assets = trades.drop(index="cash")
    assert (assets["shares"] * targets.prices).to_numpy() == pytest.approx(
        assets["notional"].to_numpy())
    test_end = json.loads((results / "deploy" / "state.json").read_text())["fold"]["test_end"]
    assert targets.date > pd.Timestamp(test_end)  # the data's last close, after the test


def test_mismatched_data_or_specs_are_refused_naming_the_problem(results, deployed):
    env = deployed[0] / "envs" / "tiny.toml"
    original = env.read_text()
    try:
        env.write_text(original.replace("window = 5", "window = 6"))
        with pytest.raises(SpecError, match="key window differs"):
            target_weights(results, "equal_weight")
        env.write_text(original.replace("n_assets = 3", "n_assets = 4"))
        with pytest.raises(DataError,
                           match=r"the data holds tickers \['S0', 'S1', 'S2', 'S3'\]"):
            target_weights(results, "equal_weight")
        env.write_text(original.replace("window = 5", "window = 5\nperiods_per_year = 52"))
        with pytest.raises(DataError, match="52 bars a year"):
            target_weights(results, "equal_weight")
    finally:
        env.write_text(original)  # the module's other tests read it
    with pytest.raises(DataError, match="before the last fold's test window"):
        target_weights(results, "equal_weight", asof="2010-06-01")
    with pytest.raises(SpecError, match="no strategy 'nope'"):
        target_weights(results, "nope")
    with pytest.raises(DataError, match=r"tickers the strategy does not trade: \['ZZZ'\]"):
        target_weights(results, "equal_weight", holdings=pd.Series({"ZZZ": 1.0}))


def test_bad_holdings_files_are_refused(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("ticker,weight\nS0,0.5\n")
    with pytest.raises(DataError, match="sum to 1"):
        read_holdings(bad)
    bad.write_text("symbol,w\nS0,1\n")
    with pytest.raises(DataError, match="ticker,weight"):
        read_holdings(bad)
    for blank in ("", "abc", "nan"):  # a sum that skips NaN would pass these
        bad.write_text(f"ticker,weight\nS0,0.5\nS1,0.5\nS2,{blank}\n")
        with pytest.raises(DataError, match="h.csv: ticker S2 has no weight"):
            read_holdings(bad)


def test_a_folder_without_deploy_state_is_refused(tmp_path):
    with pytest.raises(FinHgrpoError, match="no deploy/state.json"):
        target_weights(tmp_path)


def test_a_state_file_cannot_make_weights_import_code_from_the_folder(results, tmp_path):
    """reliability.md, defect 2: deploy/state.json edited so that a strategy's spec is a
    custom class in a file shipped inside the results folder. Refused, never imported."""
    import shutil

    copy = tmp_path / "downloaded"
    shutil.copytree(results, copy)
    marker = tmp_path / "payload-ran"
    (copy / "deploy" / "helper.py").write_text(
        f'from pathlib import Path\nPath("{marker}").write_text("ran")\n'
        "from fin_hgrpo.strategies import EqualWeight as Helper\n")
    state_path = copy / "deploy" / "state.json"
    state = json.loads(state_path.read_text())
    state["strategies"]["equal_weight"]["spec"] = {
        "kind": "custom", "path": f"{copy / 'deploy' / 'helper.py'}:Helper"}
    state_path.write_text(json.dumps(state))
    with pytest.raises(FinHgrpoError, match="never chooses code to run"):
        target_weights(copy, "equal_weight")
    assert not marker.exists()


def test_weights_warn_when_the_prices_replayed_are_not_those_backtested(deployed, capsys):
    """reliability.md, defect 12: the env pointed at other prices with the same tickers
    gives other weights; the replay says so (console and weights.json)."""
    workspace, results = deployed
    assert target_weights(results, "equal_weight").warnings == ()
    env = workspace / "envs" / "tiny.toml"
    original = env.read_text()
    try:
        env.write_text(original.replace("seed = 3", "seed = 4"))  # other prices
        [warning] = target_weights(results, "equal_weight").warnings
        assert "differ from those the backtest read" in warning
        assert main(["weights", str(results), "--strategy", "equal_weight"]) == 0
        assert "WARNING: synthetic:iid: the prices of" in capsys.readouterr().err
    finally:
        env.write_text(original)
