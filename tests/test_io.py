"""Atomic writes: results replace only earlier results, and nothing is left half-done."""

import os
import subprocess
import sys

import pytest

from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.io import atomic_directory


def _write(out, marker="run.json"):
    with atomic_directory(out, marker) as staging:
        (staging / marker).write_text("{}")
        (staging / "returns.csv").write_text("date\n")


def test_a_previous_result_of_the_same_kind_is_replaced_whole(tmp_path):
    out = tmp_path / "result"
    _write(out)
    (out / "stale.csv").write_text("old")
    _write(out)
    assert sorted(p.name for p in out.iterdir()) == ["returns.csv", "run.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_a_folder_of_the_users_is_refused_by_name_and_left_as_it_was(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    with pytest.raises(FinHgrpoError, match=r"victim: holds files but no run.json"):
        _write(victim)
    assert (victim / "notes.txt").read_text() == "mine"
    _write(tmp_path / "risk", "var_backtest.csv")  # another kind of result
    with pytest.raises(FinHgrpoError, match="no run.json"):
        _write(tmp_path / "risk")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FinHgrpoError, match="is a file"):
        _write(tmp_path / "file")


def test_the_working_directory_and_those_above_it_are_refused(tmp_path, monkeypatch):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.chdir(workspace)
    for out in (".", "..", str(workspace)):
        with pytest.raises(FinHgrpoError, match="working directory"):
            _write(out)
    assert workspace.is_dir() and sorted(os.listdir(tmp_path)) == ["ws"]


def test_staging_left_by_a_killed_run_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    killed = tmp_path / f".result.{dead}.abcd_123.tmp"
    legacy = tmp_path / ".result.x1y2z3w4.old"  # named before pids were part of the name
    live = tmp_path / f".result.{os.getpid()}.zz99zz99.tmp"
    other = tmp_path / f".result.v2.{dead}.abcd_123.tmp"  # result.v2's, not result's
    for folder in (killed, legacy, live, other):
        folder.mkdir()
    _write(tmp_path / "result")
    assert not killed.exists() and not legacy.exists()
    assert live.exists() and other.exists()


def test_a_truncated_or_keyless_json_file_is_one_error_naming_it(tmp_path):
    from fin_hgrpo.errors import DataError
    from fin_hgrpo.io import read_json

    path = tmp_path / "run.json"
    path.write_text('{"env": "envs/de')
    with pytest.raises(DataError, match="run.json: not a readable JSON file"):
        read_json(path)
    path.write_text('{"name": "x"}')
    with pytest.raises(DataError, match="run.json: has no key env"):
        read_json(path, "env")
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="holds list, not a JSON object"):
        read_json(path)
