"""Small specs on disk for backtest tests: a 3-asset synthetic env and agent specs."""

from pathlib import Path

import pytest

ENV = """
features = [{ name = "log_return" }, { name = "momentum", window = 10 }]
window = 5
[data]
source = "synthetic:iid"
n_assets = 3
n_days = 700
seed = 3
[costs]
bps = 10.0
[episode]
horizon = 64
"""

AGENT = """
[agent]
algorithm = "{algorithm}"
hidden = 16
n_envs = 8
n_steps = 4
group_size = {group}
epochs = 2
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding envs/tiny.toml and strategies/{ppo,hgrpo}.toml."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "tiny.toml").write_text(ENV)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "ppo.toml").write_text(AGENT.format(algorithm="ppo", group=1))
    (tmp_path / "strategies" / "hgrpo.toml").write_text(
        AGENT.format(algorithm="hybrid_grpo", group=4))
    monkeypatch.chdir(tmp_path)
    return tmp_path
