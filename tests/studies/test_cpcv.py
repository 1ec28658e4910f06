"""Combinatorial purged cross-validation: the layout, training that never sees a
split's test groups, paths as investments, and the files a run writes."""

import re
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.backtest import BacktestResult, BacktestSpec
from fin_hgrpo.cli import main
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import SpecError
from fin_hgrpo.strategies.base import Decision, Strategy
from fin_hgrpo.strategies.config import AgentStrategySpec, EqualWeightSpec, build_strategy
from fin_hgrpo.strategies.rl import fit_population
from fin_hgrpo.studies.cpcv import CvTask, _paths, cv_plan
from fin_hgrpo.walkforward.config import CvSpec
from fin_hgrpo.walkforward.engine import run_strategy
from fin_hgrpo.walkforward.tasks import Context

CROSS_VALIDATED = """
name = "tiny_cv"
env = "envs/tiny.toml"
seeds = [0, 1]
tearsheets = false
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
max_folds = 2
[cv]
groups = 4
test_groups = 2
purge_days = 3
embargo_days = 4
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo_tiny.toml"
steps = 64
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "min_variance"
lookback = 60
rebalance = "weekly"
[[strategies]]
kind = "benchmark"
ticker = "S1"
"""


@pytest.fixture(scope="module")
def cross_validated(session_workspace) -> BacktestResult:
    """One backtest with CPCV paths beside its walk-forward."""
    Path("backtests/tiny_cv.toml").write_text(CROSS_VALIDATED)
    out = session_workspace / "backtests" / "results" / "tiny_cv"
    assert main(["backtest", "backtests/tiny_cv.toml", "--workers", "1",
                 "--out", str(out)]) == 0
    return BacktestResult.read(out)


def _days(n: int = 300) -> pd.DatetimeIndex:
    return pd.bdate_range("2020-01-01", periods=n)


@pytest.mark.parametrize(("groups", "tests"), [(4, 2), (6, 2), (5, 3), (6, 3)])
def test_every_path_tests_every_group_once_and_training_keeps_its_distance(groups, tests):
    dates = _days()
    spec = CvSpec(groups=groups, test_groups=tests, purge_days=3, embargo_days=4)
    plan = cv_plan(spec, dates, first_decision=20)
    assert len(plan.splits) == comb(groups, tests)
    assert plan.n_paths == comb(groups - 1, tests - 1)
    table = plan.path_splits()
    assert (table >= 0).all()
    for path in table:  # each group traded by a split that tests it
        for group, split in enumerate(path):
            assert group in plan.splits[split].tests
    position = {d: i for i, d in enumerate(dates)}
    for split in plan.splits:
        for g in split.tests:
            first, last = position[plan.groups[g].start], position[plan.groups[g].end]
            for a, b in split.train:
                lo, hi = position[a], position[b]
                assert hi < first - 3 or lo > last + 3 + 4, (split, g)
    assert plan.groups[0].start == dates[20] and plan.groups[-1].end == dates[-2]


def test_a_splits_agents_and_scaling_never_see_its_test_groups_or_their_embargo(
        session_workspace):
    """Change every price outside a split's training segments (its test groups, the
    purged and embargoed days): the networks it trains and the scaled features it
    trains on stay bit-identical. Trained on the whole span instead, they change."""
    env = EnvSpec.load("envs/tiny.toml")
    panel = env.load_panel()
    plan = cv_plan(CvSpec(groups=4, test_groups=2, purge_days=3, embargo_days=4), panel.dates,
                   env.build_sim(panel).first_decision)
    split = next(s for s in plan.splits if s.tests == (1, 3))  # trains on both sides of 1
    assert len(split.train) == 2
    inside = np.zeros(len(panel), dtype=bool)
    for a, b in split.train:
        inside[panel.dates.get_loc(a):panel.dates.get_loc(b) + 1] = True
    factors = np.random.default_rng(0).uniform(0.5, 2.0, panel.prices.shape)
    keep = np.broadcast_to(inside[:, None], panel.prices.shape)
    changed = MarketPanel(panel.prices.where(keep, panel.prices * factors), source="changed")
    spec = AgentStrategySpec(kind="agent", spec="strategies/hgrpo_tiny.toml", steps=96,
                             validation_days=40, validate_every=2)

    def train(prices: MarketPanel, segments) -> tuple[list[torch.Tensor], torch.Tensor]:
        strategy = build_strategy(spec, env, seed=0)
        window = prices.slice(split.train[0][0], split.train[-1][1])
        assert fit_population([(strategy, window, segments)]) == [None]
        weights = [t.clone() for net in strategy.agent.networks().values()
                   for t in net.values()]
        return weights, strategy.agent.sim.features.clone()

    (before, scaled), (after, scaled_after) = train(panel, split.train), train(changed,
                                                                                split.train)
    assert all(torch.equal(x, y) for x, y in zip(before, after, strict=True))
    assert torch.equal(scaled, scaled_after)
    whole = [train(p, None)[0] for p in (panel, changed)]
    assert not all(torch.equal(x, y) for x, y in zip(*whole, strict=True))


def test_a_strategy_that_learns_nothing_walks_every_path_as_one_continuous_run(
        session_workspace):
    env = EnvSpec.load("envs/tiny.toml")
    panel = env.load_panel()
    sim = env.build_sim(panel)
    plan = cv_plan(CvSpec(groups=4, test_groups=2), panel.dates, sim.first_decision)
    task = CvTask("equal_weight", EqualWeightSpec(kind="equal_weight"), plan, "daily", 0.0)
    strategy = build_strategy(task.spec, env)
    results = _paths(task, Context(env, {"": panel}), [(strategy, None)] * len(plan.splits),
                     "equal_weight", None, lambda *_: None)
    whole = run_strategy(strategy, sim, sim.day(plan.groups[0].start),
                         sim.day(plan.groups[-1].end), "daily")
    assert len(results) == plan.n_paths
    for result in results:
        pd.testing.assert_series_equal(result.daily["net_return"], whole.daily["net_return"])


class _Hold(Strategy):
    """All in one asset."""

    def __init__(self, asset: int) -> None:
        self.asset, self.name = asset, f"hold{asset}"

    def weights(self, decision: Decision) -> np.ndarray:
        target = np.zeros(len(decision.holdings))
        target[self.asset] = 1.0
        return target


def test_a_path_carries_its_holdings_and_pays_to_switch_models(session_workspace):
    """Groups traded by models that hold different assets: the path enters from cash
    once, and each change of model costs the trade from one asset to the other (10 bps
    on each side), nothing more."""
    env = EnvSpec.load("envs/tiny.toml")
    panel = env.load_panel()
    plan = cv_plan(CvSpec(groups=4, test_groups=2), panel.dates,
                   env.build_sim(panel).first_decision)
    fitted = [(_Hold(split.index % 2), None) for split in plan.splits]
    task = CvTask("switching", EqualWeightSpec(kind="equal_weight"), plan, "daily", 0.0)
    results = _paths(task, Context(env, {"": panel}), fitted, "switching", None,
                     lambda *_: None)
    for path, result in zip(plan.path_splits(), results, strict=True):
        held = [split % 2 for split in path]
        switches = [g for g in range(1, len(held)) if held[g] != held[g - 1]]
        trades = result.daily[result.daily["turnover"] > 1e-12]
        assert trades["turnover"].tolist() == pytest.approx([1.0] * (1 + len(switches)))
        assert trades["cost"].tolist() == pytest.approx([0.001] + [0.002] * len(switches))
        first_days = [panel.dates[panel.dates.get_loc(plan.groups[g].start) + 1]
                      for g in switches]
        assert list(trades.index[1:]) == first_days
    assert any(len(set(path % 2)) > 1 for path in plan.path_splits())


def test_a_run_with_cv_writes_its_paths_and_their_distributions(cross_validated):
    cv = cross_validated.cv
    assert set(cv) == {"groups", "splits", "paths", "returns", "path_metrics", "metrics"}
    metrics = cv["metrics"].set_index("strategy")
    assert list(metrics.index) == ["hybrid_grpo", "equal_weight", "min_variance", "benchmark"]
    assert (metrics["paths"] == 3).all()
    assert metrics.loc["hybrid_grpo", "runs"] == 6  # 2 seeds x 3 paths
    assert metrics.loc["equal_weight", "p_below_baseline"] == 0.0
    assert cv["returns"].shape[1] == 6 + 3 + 3 + 3
    rows = cv["path_metrics"]
    assert rows["sharpe"].notna().all()
    assert 0.0 <= metrics.loc["hybrid_grpo", "p_sharpe_below_0"] <= 1.0
    assert "hybrid_grpo" in cross_validated.metrics.index  # the walk-forward headline stays


def test_cv_plan_prints_the_layout_and_the_members(session_workspace, capsys):
    Path("backtests/tiny_cv_plan.toml").write_text(CROSS_VALIDATED)
    assert main(["cv", "plan", "backtests/tiny_cv_plan.toml", "--target", "300", "3"]) == 0
    out = capsys.readouterr().out
    assert "4 groups, 2 tested per split, purge 3 and embargo 4 days: 6 splits, 3 paths" in out
    assert "hybrid_grpo: seeds [0, 1] x 6 splits = 12 members" in out
    assert "equal_weight: 3 paths, no training" in out
    assert "paths (the split trading each group)" in out
    assert "for about 300 training days per split and 3 paths" in out
    assert "groups = 4, test_groups = 2" in out


def test_cv_specs_that_cannot_work_are_refused(session_workspace, capsys):
    for groups, tests in ((3, 3), (5, 1)):
        with pytest.raises(ValueError, match="test_groups"):
            CvSpec(groups=groups, test_groups=tests)
    assert main(["cv", "plan", "backtests/tiny_classical.toml"]) == 2
    assert "no [cv] table" in capsys.readouterr().err
    with pytest.raises(SpecError, match="cannot make 6 groups"):
        cv_plan(CvSpec(groups=6), _days(12), first_decision=2)
    assert isinstance(BacktestSpec.model_validate({
        "name": "x", "env": "envs/tiny.toml", "strategies": [{"kind": "equal_weight"}],
        "cv": {"groups": 5, "test_groups": 2}}).cv, CvSpec)


@pytest.mark.parametrize(("change", "message"), [  # reliability.md N46, N47
    ("purge_days = 3", "cv: purge_days 500 \\+ embargo_days 4 must be below a group's"),
    ("test_groups = 2", "cv: 40 groups tested 20 at a time make 137,846,528,820 splits"),
])
def test_a_cv_plan_skfolio_would_refuse_is_refused_before_any_work(change, message,
                                                                    session_workspace, capsys):
    spec = CROSS_VALIDATED.replace("purge_days = 3", "purge_days = 500") \
        if change.startswith("purge") else CROSS_VALIDATED.replace(
            "groups = 4\ntest_groups = 2", "groups = 40\ntest_groups = 20")
    Path("backtests/tiny_cv_bad.toml").write_text(spec)
    for argv in (["cv", "plan", "backtests/tiny_cv_bad.toml"],
                 ["backtest", "backtests/tiny_cv_bad.toml", "--out", "cv_bad"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert re.search(message, err) and err.count("\n") == 1, err
    assert not Path("cv_bad").exists() and not Path(".cv_bad.parts").exists()


@pytest.mark.parametrize("target", [["0", "0"], ["-5", "3"]])  # reliability.md N48
def test_cv_plan_refuses_a_target_of_no_days_or_paths(target, session_workspace, capsys):
    Path("backtests/tiny_cv_plan.toml").write_text(CROSS_VALIDATED)
    assert main(["cv", "plan", "backtests/tiny_cv_plan.toml", "--target", *target]) == 2
    assert "give at least 1 training day and 1 path" in capsys.readouterr().err


def test_the_report_shows_the_path_sharpe_distribution(cross_validated, session_workspace):
    page = (session_workspace / "backtests" / "results" / "tiny_cv" / "report.html").read_text()
    assert "CPCV: Sharpe over paths" in page
    row = cross_validated.cv["metrics"].set_index("strategy").loc["hybrid_grpo"]
    assert f"<td>hybrid_grpo</td><td>3</td><td>6</td><td>{row['sharpe_mean']:.2f}</td>" in page
    assert "4 groups" in page and "6 training combinations, 3 paths" in page


def test_a_run_with_cv_is_reproduced_by_verify(cross_validated, session_workspace, capsys):
    """Re-run from its manifest, every file (cv/ included) comes out identical."""
    out = session_workspace / "backtests" / "results" / "tiny_cv"
    files = list(out.rglob("*.csv"))
    assert len([f for f in files if f.parent.name == "cv"]) == 6
    assert main(["verify", str(out)]) == 0
    assert f"identical: {len(files)} of {len(files)} result files" in capsys.readouterr().out
