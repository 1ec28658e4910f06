"""``fin-hgrpo pbo``: PBO of a result folder's configurations, as the measure computes
it on the same columns."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures.overfitting import pbo
from fin_hgrpo.studies.overfit import folder_overfitting


def _folder(path: Path, runs: dict[str, list[str]], sweep: bool = False) -> pd.DataFrame:
    """A result folder holding random daily returns for ``runs`` (strategy: columns)."""
    columns = [c for cols in runs.values() for c in cols]
    dates = pd.bdate_range("2020-01-01", periods=400)
    returns = pd.DataFrame(np.random.default_rng(0).normal(3e-4, 0.01, (400, len(columns))),
                           index=dates, columns=columns).rename_axis("date")
    path.mkdir()
    returns.to_csv(path / "returns.csv")
    if sweep:
        pd.DataFrame({"trial": range(len(runs))}).to_csv(path / "trials.csv", index=False)
    else:
        pd.DataFrame({"strategy": [s for s, cols in runs.items() for _ in cols]},
                     index=pd.Index(columns, name="run")).to_csv(path / "seeds.csv")
    return returns


def test_a_selecting_backtests_candidates_are_the_default(tmp_path, capsys):
    runs = {f"hgrpo_c{k}": [f"hgrpo_c{k}_seed{s}" for s in range(3)] for k in range(4)}
    returns = _folder(tmp_path / "run", runs | {"equal_weight": ["equal_weight"]})
    found = folder_overfitting(tmp_path / "run")
    cube = returns[[c for cols in runs.values() for c in cols]].to_numpy().reshape(400, 4, 3)
    assert found.names == list(runs) and found.found.pbo == pbo(cube).pbo
    assert main(["pbo", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"probability of backtest overfitting   {found.found.pbo:.3f}" in out
    assert "first order" in out and "below 10 the ranks are coarse" in out


def test_strategies_with_different_seed_counts_are_scored_by_their_seeds_mean(tmp_path):
    runs = {"agent": ["agent_seed0", "agent_seed1"], "equal_weight": ["equal_weight"],
            "momentum": ["momentum"]}
    returns = _folder(tmp_path / "run", runs)
    found = folder_overfitting(tmp_path / "run", ["agent", "equal*", "mom*"], blocks=8)
    averaged = np.column_stack([returns[runs[n]].mean(axis=1) for n in runs])
    assert found.seeds == "seeds' returns averaged"
    assert found.found.pbo == pbo(averaged, blocks=8).pbo


def test_a_sweeps_trials(tmp_path):
    runs = {f"trial{k}": [f"trial{k}_seed{s}" for s in range(2)] for k in range(3)}
    _folder(tmp_path / "sweep", runs, sweep=True)
    assert folder_overfitting(tmp_path / "sweep").names == list(runs)


def test_two_agents_candidates_are_not_one_family(tmp_path):
    runs = {f"{a}_c{k}": [f"{a}_c{k}_seed0"] for a in ("ppo", "grpo") for k in range(2)}
    _folder(tmp_path / "run", runs)
    with pytest.raises(SpecError, match="2 agents select.*'grpo_c\\*' or 'ppo_c\\*'"):
        folder_overfitting(tmp_path / "run")
    assert folder_overfitting(tmp_path / "run", ["ppo_c*"]).names == ["ppo_c0", "ppo_c1"]


def test_too_few_configurations_or_no_results_are_refused(tmp_path):
    _folder(tmp_path / "run", {"a": ["a"], "b": ["b"]})
    with pytest.raises(SpecError, match="two configurations or more, 1 match"):
        folder_overfitting(tmp_path / "run", ["a"])
    with pytest.raises(SpecError, match="no returns.csv"):
        folder_overfitting(tmp_path)


def test_the_pbo_command_refuses_blocks_it_cannot_enumerate(tmp_path, capsys):
    """reliability.md N52, N53: ``--blocks 7`` was a traceback, ``--blocks 30`` took
    1.4 GB in 30 s."""
    _folder(tmp_path / "run", {"a": ["a"], "b": ["b"]})
    for blocks in ("7", "30"):
        assert main(["pbo", str(tmp_path / "run"), "--blocks", blocks]) == 2
        assert "blocks must be even, 2 to 20" in capsys.readouterr().err
