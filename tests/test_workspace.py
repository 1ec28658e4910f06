"""``fin-hgrpo init``: a workspace holds the default specs and the sample's source note."""

import subprocess
from pathlib import Path

import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.workspace import init_workspace, template_files
from tests.conftest import write_tiny_specs

EXPECTED = {
    "backtests/cpcv_hgrpo.toml", "backtests/default.toml", "backtests/full_history.toml",
    "backtests/long_short.toml", "backtests/recent.toml", "backtests/select_hgrpo.toml",
    "backtests/sweep_hgrpo.toml", "backtests/universes.toml",
    "envs/default.toml", "envs/full_history.toml", "envs/long_short.toml",
    "envs/synthetic_iid.toml",
    "envs/synthetic_regime.toml", "envs/synthetic_signal.toml", "strategies/grpo.toml",
    "strategies/hgrpo.toml", "strategies/ppo.toml", "strategies/trend_filter.py",
    "data/sample/README.md",
}


def test_init_writes_every_default_spec_and_the_source_note(tmp_path):
    written = init_workspace(tmp_path / "study")
    assert {p.relative_to(tmp_path / "study").as_posix() for p in written} == EXPECTED
    assert (tmp_path / "study" / "data" / "cache").is_dir()
    note = (tmp_path / "study" / "data" / "sample" / "README.md").read_text()
    assert "PyPortfolioOpt" in note and "Survivorship" in note
    for relative, source in template_files().items():
        assert (tmp_path / "study" / relative).read_bytes() == source.read_bytes()


def test_what_init_writes_is_the_clones_tracked_top_level():
    """The tracked envs/, strategies/, backtests/ and the sample's note are the one source
    of the defaults: init copies exactly them."""
    repo = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files", "envs", "strategies", "backtests",
                              "data/sample/README.md"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.split()
    assert set(tracked) == EXPECTED
    for relative, source in template_files().items():
        assert source.read_bytes() == (repo / relative).read_bytes()


def test_init_keeps_edited_files_unless_forced(tmp_path):
    init_workspace(tmp_path)
    spec = tmp_path / "strategies" / "hgrpo.toml"
    spec.write_text("# mine\n")
    assert init_workspace(tmp_path) == []
    assert spec.read_text() == "# mine\n"
    assert spec in init_workspace(tmp_path, force=True)
    assert spec.read_text() != "# mine\n"


def test_init_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(FinHgrpoError, match="taken: exists and is not a folder"):
        init_workspace(tmp_path / "taken")


def test_cli_init_says_what_it_wrote_and_kept(tmp_path, capsys):
    assert main(["init", str(tmp_path / "ws")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["init", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert f"kept {len(EXPECTED)} file(s) already there" in out
    assert f"cd {tmp_path / 'ws'} && fin-hgrpo backtest backtests/default.toml --quick" in out


def test_a_workspace_runs_its_own_specs(tmp_path, monkeypatch):
    init_workspace(tmp_path)
    write_tiny_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "backtests/tiny_classical.toml", "--workers", "1"]) == 0
    assert (tmp_path / "backtests" / "results" / "tiny_classical" / "report.html").is_file()
