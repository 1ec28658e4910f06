"""The shipped main job (``make demo``): the whole history as a point-in-time universe,
the three agents warm started from fold to fold beside every baseline."""

import json

import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestSpec
from fin_hgrpo.cli import main
from tests.conftest import run_once


def test_the_main_job_is_the_whole_history_with_warm_started_agents():
    spec = BacktestSpec.load("backtests/default.toml")
    env = spec.env_spec()
    panel = env.load_panel()
    folds = spec.walk_forward.splitter(env.periods(panel)).split(panel.dates)
    assert env.data.align == "listed" and panel.dates[0].year == 1990
    assert len(folds) == 31 and folds[0].test_start.year == 1993
    agents = [s for s in spec.strategies if s.kind == "agent"]
    assert {a.spec for a in agents} == {"strategies/hgrpo.toml", "strategies/ppo.toml",
                                        "strategies/grpo.toml"}
    assert all(a.warm_start is not None and a.ensemble for a in agents)
    assert len(spec.seeds) == 5
    recent = BacktestSpec.load("backtests/recent.toml")
    assert [s.model_dump() for s in recent.strategies] == \
        [s.model_dump() for s in spec.strategies]  # the same job on seven years


@pytest.mark.slow  # three agents and every baseline on the bundled sample's last two folds
def test_the_main_jobs_quick_run_trains_warm_and_reports_every_strategy(tmp_path_factory):
    run = run_once(tmp_path_factory, "default-quick",
                   ["backtest", "backtests/default.toml", "--quick", "--seeds", "0",
                    "--workers", "1", "--no-tearsheets"])
    metrics = pd.read_csv(run.folder / "metrics.csv", index_col="strategy")
    for agent in ("hybrid_grpo", "ppo", "grpo"):
        assert {agent, f"{agent}_ensemble"} <= set(metrics.index)
    folds = pd.read_csv(run.folder / "folds.csv")
    assert folds["error"].isna().all() and folds["fold"].nunique() == 2
    iterations = {path.name: len(pd.read_csv(path))
                  for path in (run.folder / "training").glob("hybrid_grpo_seed0_fold*.csv")}
    first, second = sorted(iterations)
    assert iterations[second] < iterations[first]  # the warm fold trains for its share
    assert json.loads((run.folder / "run.json").read_text())["alignment"].startswith(
        "align=listed")


@pytest.mark.slow  # the quick main job re-run by verify: 20 s
def test_the_documented_verify_of_a_fresh_main_job_run_finds_it_identical(tmp_path_factory,
                                                                           capsys):
    """reliability.md N13: ``fin-hgrpo verify`` failed untouched folders. A fresh run of
    the shipped main job verifies (exit 0)."""
    run = run_once(tmp_path_factory, "default-quick",
                   ["backtest", "backtests/default.toml", "--quick", "--seeds", "0",
                    "--workers", "1", "--no-tearsheets"])
    assert main(["verify", str(run.folder)]) == 0
    assert "verified: identical" in capsys.readouterr().out
