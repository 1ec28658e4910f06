import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures import performance
from fin_hgrpo.studies.optuna_study import Outcome, open_study, run_rounds
from fin_hgrpo.studies.sweep import SweepSpec, run_sweep
from tests.studies.conftest import BACKTEST, write_sweep

AGENT_STRATEGY = """
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo.toml"
steps = 1000
validation_days = 50
validate_every = 2
min_trade = 0.01
"""

SWEEP = """
name = "sweep_tiny"
backtest = "backtests/tiny.toml"
agent = "strategies/hgrpo.toml"
steps = 64
seeds = [0, 1]
holdout_folds = 1
search = "grid"
[space]
learning_rate = [1e-3, 3e-3]
"""


@pytest.fixture
def sweep_file(workspace: Path) -> Path:
    return write_sweep(workspace, SWEEP, "sweep.toml")


def _asks(spec: SweepSpec, value) -> list[dict]:
    """The points a study of ``spec`` asks, in order, when a trial is worth
    ``value(params)`` (an in-memory study: no training)."""
    study = open_study("asks", optuna.storages.InMemoryStorage())
    run_rounds(study, spec.space, search=spec.search, seed=spec.seed, trials=spec.budget(),
               parallel=spec.parallel,
               evaluate=lambda asked: [Outcome(value(t.params), {}) for t in asked])
    return [t.params for t in sorted(study.trials, key=lambda t: t.number)]


def test_each_search_is_a_seeded_optuna_sampler_over_the_space(sweep_file):
    grid = SweepSpec.load(sweep_file).model_copy(
        update={"space": {"learning_rate": [1e-3, 3e-3], "group_size": [4, 8, 16]}})
    assert grid.budget() == 6
    asked = _asks(grid, lambda p: p["learning_rate"])
    assert sorted(map(str, asked)) == sorted(map(str, grid.corners()))  # each point once
    sweep_file.write_text(SWEEP.replace('search = "grid"', 'search = "tpe"\ntrials = 12')
                          .replace("learning_rate = [1e-3, 3e-3]",
                                   "learning_rate = { low = 1e-4, high = 1e-2, log = true }\n"
                                   "hidden = { low = 8, high = 32, integer = true }\n"
                                   "advantage = ['paper', 'per_sample']"))
    spec = SweepSpec.load(sweep_file)
    assert len(spec.trial_configs()) == 8  # the ranges' ends against every choice
    for search in ("tpe", "cmaes", "random"):
        searched = spec.model_copy(update={"search": search})
        points = _asks(searched, lambda p: -abs(np.log10(p["learning_rate"]) + 3))
        assert points == _asks(searched, lambda p: -abs(np.log10(p["learning_rate"]) + 3))
        assert len(points) == 12 and all(1e-4 <= p["learning_rate"] <= 1e-2
                                         and isinstance(p["hidden"], int) for p in points)
    assert spec.model_copy(update={"search": "random", "trials": None}).budget() == 10


@pytest.mark.parametrize("space, message", [
    ("learning_rate = [1e-3]\nlearnin_rate = [1]", r"key space.learnin_rate: not a hyper"),
    ("learning_rate = [-1.0]", r"key space.learning_rate: Input should be greater than 0"),
    ("learning_rate = { low = 1e-4, high = 1e-2 }", r"key space.learning_rate: a grid needs"),
    # reliability.md #40: an empty list was a KeyError after the spec was accepted, a
    # reversed range "Input should be a valid list"
    ("learning_rate = []", r"key space: .*space.learning_rate: needs at least one value"),
    ("learning_rate = { low = 1e-2, high = 1e-4 }",
     r"key space: .*space.learning_rate: .*needs low < high"),
    ("learning_rate = [1e-3, 1e-3]", r"key space: .*space.learning_rate: values repeat"),
    ("seed = [1, 2]", r"key space: .*space.seed: seeds are not a hyperparameter"),
])
def test_a_bad_sweep_fails_before_any_work(sweep_file, space, message):
    sweep_file.write_text(SWEEP.replace("learning_rate = [1e-3, 3e-3]", space))
    with pytest.raises(SpecError, match=rf"sweep.toml: {message}"):
        SweepSpec.load(sweep_file)


def test_sweep_ranks_trials_on_the_search_folds_only(sweep_file, tmp_path):
    result = run_sweep(SweepSpec.load(sweep_file), tmp_path / "out", progress=False)
    table, summary = result.trials, result.summary
    assert list(table["learning_rate"].sort_values()) == [1e-3, 3e-3]
    assert table["val_sharpe"].is_monotonic_decreasing
    assert (table["seeds_done"] == 2).all()
    assert len(summary["search_folds"]) == 3 and len(summary["held_out"]) == 1
    held_out_start = pd.Timestamp(summary["held_out"][0].split("test ")[1].split("..")[0])
    # the last searched return ends at the close the held-out fold first decides on
    assert result.returns.index.max() <= held_out_start
    # the winner's PSR is a deployable seed's, not the flattering mean of its seeds' returns
    seeds = [result.returns[f"trial{summary['winner']}_seed{s}"] for s in (0, 1)]
    assert summary["winner_psr"] == pytest.approx(np.mean([performance.psr(r) for r in seeds]))
    assert summary["winner_dsr"] < summary["winner_psr"]
    assert summary["winner_val_sharpe"] == pytest.approx(
        np.mean([performance.sharpe(r) for r in seeds]))


def test_trials_are_trained_with_the_backtests_protocol(sweep_file):
    from fin_hgrpo.studies.sweep import _protocol
    from fin_hgrpo.walkforward.config import BacktestSpec

    (sweep_file.parent / "tiny.toml").write_text(BACKTEST + AGENT_STRATEGY)
    spec = SweepSpec.load(sweep_file)
    protocol = _protocol(spec, BacktestSpec.load(spec.backtest))
    assert (protocol.validation_days, protocol.validate_every, protocol.min_trade) == (50, 2,
                                                                                     0.01)
    assert protocol.steps == 64  # the sweep's budget
    override = spec.model_copy(update={"validation_days": 0})
    assert _protocol(override, BacktestSpec.load(spec.backtest)).validation_days == 0


def test_sweep_command_writes_the_ranked_table(sweep_file, capsys, tmp_path):
    assert main(["sweep", str(sweep_file), "--workers", "1",
                 "--tensorboard", str(tmp_path / "tb")]) == 0
    out = Path("backtests/results/sweep_tiny")
    printed = capsys.readouterr().out
    assert "deflated Sharpe" in printed
    assert "probability that the best in sample is overfit (PBO, 16 blocks)" in printed
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and "val_sharpe" in trials
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == 2
    assert 0 <= summary["overfitting_pbo"] <= 1 and summary["overfitting_coarse"]
    assert not (out.parent / ".sweep_tiny.parts").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["command"][0] == "sweep"
    assert {str(sweep_file), "backtests/tiny.toml", "strategies/hgrpo.toml"} <= \
        set(manifest["files"])
    runs = {p.name for p in (tmp_path / "tb" / "sweep_tiny").iterdir()}
    assert "trial0_seed0_fold0" in runs and len(runs) >= 2  # one run per trial, seed, fold
    report = (out / "report.html").read_text()
    assert "Optimisation history" in report and "Parallel coordinates" in report


def test_a_sweep_verifies_identical_from_a_new_study(sweep_file, capsys):
    """verify re-runs the study from nothing (a journal in its temporary folder),
    pruning included, and finds the same trials and returns."""
    assert main(["sweep", str(sweep_file), "--workers", "1", "--out", "plain"]) == 0
    capsys.readouterr()
    assert main(["verify", "plain"]) == 0
    assert "identical: 2 of 2 result files" in capsys.readouterr().out


def test_trials_that_differ_only_in_what_members_may_differ_in_train_as_one_population(
        sweep_file):
    from fin_hgrpo.studies.sweep import _populations

    spec = SweepSpec.load(sweep_file)
    base = spec.trial_configs()[0]
    configs = [base, base.model_copy(update={"learning_rate": 3e-3, "weight_decay": 0.1}),
               base.model_copy(update={"hidden": 8}), base.model_copy(update={"entropy_coef": 0})]
    groups = _populations(dict(enumerate(configs)), [0, 1])
    assert [[run.column for run in runs] for runs in groups] == [
        ["trial0_seed0", "trial0_seed1", "trial1_seed0", "trial1_seed1", "trial3_seed0",
         "trial3_seed1"], ["trial2_seed0", "trial2_seed1"]]
    assert [run.config.seed for run in groups[1]] == [0, 1]
