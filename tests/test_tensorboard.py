"""--tensorboard: every training metric as TensorBoard scalars, one run per member,
fold and seed, equal to the CSV logs."""

from pathlib import Path

import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_accumulator  # the tensorboard extra

from fin_hgrpo.cli import main


def _scalars(run: Path) -> dict[str, list]:
    events = event_accumulator.EventAccumulator(str(run))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def test_train_logs_every_metric_against_states(tmp_path):
    out, board = tmp_path / "run", tmp_path / "tb"
    assert main(["train", "strategies/hgrpo_tiny.toml", "--env", "envs/tiny.toml",
                 "--steps", "96", "--seed", "0", "--out", str(out),
                 "--tensorboard", str(board)]) == 0
    scalars = _scalars(board / "run")
    log = pd.read_csv(out / "metrics.csv")
    assert {"train/policy_loss", "train/entropy", "train/approx_kl",
            "train/mean_log_growth"} <= set(scalars)
    steps, values = zip(*scalars["train/entropy"], strict=True)
    assert list(steps) == log["states"].tolist()
    assert values == pytest.approx(log["entropy"].tolist(), rel=1e-6)


def test_a_population_logs_one_run_per_member(tmp_path):
    board = tmp_path / "tb"
    assert main(["train", "strategies/ppo_tiny.toml", "--env", "envs/tiny.toml",
                 "--steps", "64", "--seeds", "0-1", "--out", str(tmp_path / "pop"),
                 "--tensorboard", str(board)]) == 0
    assert sorted(p.name for p in (board / "pop").iterdir()) == ["seed0", "seed1"]
    assert "train/value_loss" in _scalars(board / "pop" / "seed1")


def test_a_backtest_logs_one_run_per_seed_and_fold(tmp_path):
    board = tmp_path / "tb"
    assert main(["backtest", "backtests/tiny_agents.toml", "--quick", "--workers", "1",
                 "--out", str(tmp_path / "bt"), "--tensorboard", str(board)]) == 0
    runs = sorted(p.name for p in (board / "tiny_agents").iterdir())
    assert runs == [f"{agent}_seed{s}_fold3" for agent in ("hybrid_grpo", "ppo")
                    for s in (0, 1)]
    log = pd.read_csv(tmp_path / "bt" / "training" / "ppo_seed1_fold3.csv")
    steps, values = zip(*_scalars(board / "tiny_agents" / "ppo_seed1_fold3")["train/entropy"],
                        strict=True)
    assert list(steps) == log["states"].tolist()
    assert values == pytest.approx(log["entropy"].tolist(), rel=1e-6)
