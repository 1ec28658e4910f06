"""The backtest a sweep searches on, written into a test's workspace (the ``workspace``
fixture of ``tests/conftest.py``) with the sweep spec beside it."""

from pathlib import Path

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


def write_sweep(workspace: Path, sweep: str, name: str) -> Path:
    """``backtests/tiny.toml`` (``BACKTEST``) and the sweep spec ``sweep`` beside it as
    ``backtests/<name>``, whose path is returned."""
    (workspace / "backtests").mkdir()
    (workspace / "backtests" / "tiny.toml").write_text(BACKTEST)
    path = workspace / "backtests" / name
    path.write_text(sweep)
    return path
