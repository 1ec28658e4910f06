"""A workspace of tiny specs for backtest tests: the 3-asset synthetic env and agents
under the shipped names (``strategies/ppo.toml``, ``strategies/hgrpo.toml``)."""

from pathlib import Path

import pytest

from tests.conftest import write_tiny_workspace


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding envs/tiny.toml and strategies/{ppo,hgrpo}.toml."""
    write_tiny_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path
