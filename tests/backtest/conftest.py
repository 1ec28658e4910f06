"""A workspace of tiny specs for backtest tests: the 3-asset synthetic env and agents
under the shipped names (``strategies/ppo.toml``, ``strategies/hgrpo.toml``)."""

from pathlib import Path

import pytest

from tests.conftest import TINY_AGENT, TINY_ENV


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding envs/tiny.toml and strategies/{ppo,hgrpo}.toml."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "tiny.toml").write_text(TINY_ENV)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "ppo.toml").write_text(TINY_AGENT.format(algorithm="ppo",
                                                                        group=1))
    (tmp_path / "strategies" / "hgrpo.toml").write_text(
        TINY_AGENT.format(algorithm="hybrid_grpo", group=4))
    monkeypatch.chdir(tmp_path)
    return tmp_path
