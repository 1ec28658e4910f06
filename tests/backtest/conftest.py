"""A workspace of tiny specs for backtest tests: the 3-asset synthetic env and agents
under the shipped names (``strategies/ppo.toml``, ``strategies/hgrpo.toml``)."""

from pathlib import Path

import pytest

from tests.conftest import write_tiny_workspace

# the backtest a sweep searches on: 1/N on the tiny market, folds of 200 and 120 days
BACKTEST = """
name = "tiny"
env = "envs/tiny.toml"
benchmark = "equal_weight"
workers = 1
[walk_forward]
train_days = 200
test_days = 120
[[strategies]]
kind = "equal_weight"
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding envs/tiny.toml and strategies/{ppo,hgrpo}.toml."""
    write_tiny_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_sweep(workspace: Path, sweep: str, name: str) -> Path:
    """``backtests/tiny.toml`` (``BACKTEST``) and the sweep spec ``sweep`` beside it as
    ``backtests/<name>``, whose path is returned."""
    (workspace / "backtests").mkdir()
    (workspace / "backtests" / "tiny.toml").write_text(BACKTEST)
    path = workspace / "backtests" / name
    path.write_text(sweep)
    return path
