"""Warm starts across folds: each seed's chain of fits trains in fold order, never on
a day after the test it acts in, and the first fold's budget is the whole one."""

import contextlib
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from fin_hgrpo.backtest import BacktestSpec, run_backtest
from fin_hgrpo.cli import main
from fin_hgrpo.strategies.rl import WarmStart
from fin_hgrpo.walkforward.tasks import PopulationTask, plan
from tests.conftest import prices_and_perturbed

WARM = {"shrink": 0.5, "perturb": 0.1, "steps": 0.5, "restart_every": 3}
AGENT = """
[agent]
algorithm = "hybrid_grpo"
distribution = "tilt"
base = "equal_weight"
tilt_scale = 0.1
encoder = "shared"
hidden = 8
n_envs = 8
n_steps = 4
group_size = 4
epochs = 2
"""


def _spec(folder: Path, prices: pd.DataFrame, warm: dict | None = WARM) -> BacktestSpec:
    prices.rename_axis("date").to_csv(folder / "prices.csv")
    (folder / "env.toml").write_text(
        'features = [{ name = "momentum", window = 5 }, { name = "volatility", window = 10 }]\n'
        f'window = 1\n[data]\nsource = "csv:{folder / "prices.csv"}"\n')
    (folder / "hgrpo.toml").write_text(AGENT)
    return BacktestSpec.model_validate({
        "name": "warm", "env": str(folder / "env.toml"), "seeds": [0, 1],
        "tearsheets": False,
        "walk_forward": {"train_days": 120, "test_days": 60, "embargo_days": 2},
        "strategies": [{"kind": "agent", "spec": str(folder / "hgrpo.toml"), "steps": 128,
                        "validation_days": 20, "validate_every": 2,
                        **({"warm_start": warm} if warm else {})},
                       {"kind": "equal_weight"}]})


def _weights(spec: BacktestSpec) -> dict[str, pd.DataFrame]:
    """Each agent run's weights over the test windows."""
    result = run_backtest(spec, workers=1, progress=False)
    return {column: frame for column, frame in result.weights.items()
            if column.startswith("hybrid_grpo_seed")}


def test_a_warm_chain_never_sees_a_price_after_the_test_it_acts_in(tmp_path):
    """Every price after fold 2's test start changed: every decision up to it is the
    same to the last bit (folds 0 and 1 trained and acted on earlier days only, and
    fold 2, warm, started from fold 1's networks and trained before its test), and
    later decisions differ."""
    prices, _ = prices_and_perturbed(480, 0, seed=4)
    spec = _spec(tmp_path, prices)
    folds = spec.walk_forward.splitter().split(prices.index)
    cut = folds[2].test_start
    _, changed = prices_and_perturbed(480, prices.index.get_loc(cut), seed=4)
    before = _weights(spec)
    (tmp_path / "changed").mkdir()
    after = _weights(_spec(tmp_path / "changed", changed))
    assert len(folds) >= 5
    for column, frame in before.items():
        earlier = frame.index <= cut
        pd.testing.assert_frame_equal(frame.loc[earlier], after[column].loc[earlier],
                                      check_exact=True)
        assert not frame.loc[~earlier].equals(after[column].loc[~earlier])


def test_a_warm_fold_trains_for_its_share_and_restarts_from_scratch_when_due():
    warm = WarmStart(**WARM)
    assert [warm.budget(1000, k) for k in range(7)] == [1000, 500, 500, 1000, 500, 500, 1000]
    assert WarmStart(steps=0.25).budget(1000, 5) == 250


def test_shrink_and_perturb_mixes_the_carried_and_fresh_networks():
    carried = {"policy": {"head.weight": torch.full((2, 3), 2.0), "log_std": torch.ones(3),
                          "count": torch.tensor(7)}}
    fresh = {"policy": {"head.weight": torch.full((2, 3), 1.0), "log_std": torch.zeros(3),
                        "count": torch.tensor(0)}}
    mixed = WarmStart(shrink=0.5, perturb=0.2).applied(carried, fresh)["policy"]
    torch.testing.assert_close(mixed["head.weight"], torch.full((2, 3), 1.2))
    assert mixed["count"] == 7  # integers are carried, not mixed
    reset = WarmStart(shrink=0.5, reset_heads=True).applied(carried, fresh)["policy"]
    torch.testing.assert_close(reset["head.weight"], fresh["policy"]["head.weight"])
    torch.testing.assert_close(reset["log_std"], fresh["policy"]["log_std"])


def test_a_warm_chain_is_a_population_a_fold_in_order_with_each_folds_budget(tmp_path):
    prices, _ = prices_and_perturbed(480, 0, seed=4)
    spec = _spec(tmp_path, prices)
    folds = spec.walk_forward.splitter().split(prices.index)
    [task] = [t for t in plan(spec, folds) if isinstance(t, PopulationTask)]
    assert [[(r, f.index) for r, f in p] for p in task.populations()] == \
        [[(0, k), (1, k)] for k in range(len(folds))]
    per_fit = [4, 2, 2, 4, 2, 2, 4, 2][:len(folds)]  # iterations of 32 states
    assert task.progress_units()[1] == 2 * sum(per_fit)


@pytest.mark.parametrize("value", [True, {"shrink": 0.5}])
def test_warm_start_is_true_or_a_table(tmp_path, value):
    prices, _ = prices_and_perturbed(480, 0, seed=4)
    spec = _spec(tmp_path, prices, warm=value)
    assert isinstance(spec.strategies[0].warm_start, WarmStart)
    assert _spec(tmp_path, prices, warm=None).strategies[0].warm_start is None
    with pytest.raises(Exception, match="shrink"):
        _spec(tmp_path, prices, warm={"shrink": 2.0})


@pytest.mark.slow  # backtests in processes of their own, one killed midway
def test_a_run_killed_in_the_middle_of_a_warm_chain_reruns_to_the_same_files(tmp_path):
    """kill -9 while the second warm chain trains (the first one saved): the same
    command again gives the files an uninterrupted run gives, byte for byte."""
    prices, _ = prices_and_perturbed(480, 0, seed=4)
    _spec(tmp_path, prices)  # the prices, env and agent files
    chain = (f'kind = "agent"\nspec = "{tmp_path / "hgrpo.toml"}"\nvalidation_days = 20\n'
             'warm_start = { shrink = 0.5, perturb = 0.1, steps = 0.5 }\n')
    (tmp_path / "warm.toml").write_text(
        f'name = "warm"\nenv = "{tmp_path / "env.toml"}"\nseeds = [0]\n'
        'benchmark = "equal_weight"\n'
        '[walk_forward]\ntrain_days = 120\ntest_days = 60\nembargo_days = 2\n'
        f'[[strategies]]\n{chain}steps = 128\n'
        f'[[strategies]]\n{chain}steps = 4096\nname = "warm_again"\n'
        '[[strategies]]\nkind = "equal_weight"\n')
    command = ["backtest", str(tmp_path / "warm.toml"), "--workers", "1", "--no-tearsheets"]
    parts = tmp_path / ".killed.parts"
    run = subprocess.Popen([sys.executable, "-m", "fin_hgrpo.cli", *command, "--out",
                            str(tmp_path / "killed")], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(parts.glob("*.zip")) and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert len(list(parts.glob("*.zip"))) == 1  # the first chain; the second was cut
    subprocess.run([sys.executable, "-m", "fin_hgrpo.cli", *command, "--out",
                    str(tmp_path / "killed")], cwd=tmp_path, check=True, capture_output=True,
                   timeout=300)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*command, "--out", str(tmp_path / "whole")]) == 0
    for name in ("returns.csv", "seeds.csv", "turnover.csv", "folds.csv"):
        killed, whole = (pd.read_csv(tmp_path / out / name) for out in ("killed", "whole"))
        pd.testing.assert_frame_equal(killed.drop(columns="seconds", errors="ignore"),
                                      whole.drop(columns="seconds", errors="ignore"),
                                      check_exact=True)
