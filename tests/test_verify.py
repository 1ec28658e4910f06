"""fin-hgrpo verify: a re-run on the same machine is identical; a changed input is named
and its drift measured."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from fin_hgrpo.cli import main
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.provenance import build_manifest, write_manifest
from fin_hgrpo.verify import verify

CLASSICAL = ["backtest", "backtests/tiny_classical.toml", "--workers", "1"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """One recorded backtest of the tiny classical spec, made in this workspace; each
    test verifies (or forges) its own copy."""
    out = tmp_path_factory.mktemp("recording") / "bt"
    assert main([*CLASSICAL, "--out", str(out)]) == 0
    return out


@pytest.fixture
def recorded(recording, tmp_path) -> Path:
    """This test's copy of the recorded backtest."""
    return Path(shutil.copytree(recording, tmp_path / "bt"))


def test_an_unchanged_backtest_verifies_identical(recorded, capsys):
    assert main(["verify", str(recorded)]) == 0
    out = capsys.readouterr().out
    assert "manifest: nothing changed" in out and "verified: identical" in out


def test_a_folder_whose_result_files_were_deleted_does_not_verify(recorded):
    for csv in recorded.rglob("*.csv"):
        csv.unlink()
    result = verify(recorded, run=main)
    assert not result.identical and "returns.csv" in result.missing
    assert "differs: returns.csv: missing from the recorded folder" in "\n".join(result.lines())


def test_a_changed_spec_is_named_and_the_drift_measured(tmp_path, capsys, monkeypatch):
    for name in ("envs/tiny.toml", "backtests/tiny_classical.toml"):
        copy = tmp_path / name  # a copy of the workspace whose costs then change
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(Path(name).read_text())
    monkeypatch.chdir(tmp_path)
    assert main([*CLASSICAL, "--out", "moved"]) == 0
    spec = tmp_path / "envs" / "tiny.toml"
    spec.write_text(spec.read_text().replace("bps = 10.0", "bps = 30.0"))
    result = verify(tmp_path / "moved", run=main)
    assert result.changes == ["file envs/tiny.toml: changed"]
    assert not result.identical
    assert 0 < result.differences["returns.csv"] < 0.01
    assert (result.sharpe < 0).all()  # higher costs, lower Sharpe for every strategy
    assert main(["verify", str(tmp_path / "moved")]) == 1
    assert "the re-run read the spec files and prices as they are now" in capsys.readouterr().out


def test_a_train_run_verifies_identical(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "strategies/hgrpo_tiny.toml", "--env", "envs/tiny.toml",
                 "--steps", "64", "--seed", "1", "--out", str(out)]) == 0
    result = verify(out, run=main)
    assert result.identical and result.changes == []
    assert "metrics.csv" in result.differences


def test_a_folder_made_by_a_script_is_refused(tmp_path):
    write_manifest(tmp_path, build_manifest("backtest", command=None, files=[],
                                            data_sha256=None))
    with pytest.raises(FinHgrpoError, match="nothing to re-run"):
        verify(tmp_path, run=main)


EVIL = '''
from pathlib import Path
from fin_hgrpo.strategies import EqualWeight

Path("{marker}").write_text("ran")

class Evil(EqualWeight):
    pass
'''


def _forge(folder: Path, **changes) -> None:
    import json

    path = folder / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_a_manifest_cannot_make_verify_run_code_shipped_in_the_folder(tmp_path, recorded):
    """reliability.md, defect 1: a downloaded results folder whose manifest names a
    spec (and a custom strategy) inside it. Refused before any of it is imported."""
    folder = recorded
    marker = tmp_path / "payload-ran"
    (folder / "evil.py").write_text(EVIL.format(marker=marker))
    spec = Path("backtests/tiny_classical.toml").read_text() + (
        f'\n[[strategies]]\nkind = "custom"\npath = "{folder / "evil.py"}:Evil"\n')
    (folder / "bt.toml").write_text(spec)
    _forge(folder, command=["backtest", str(folder / "bt.toml")])
    with pytest.raises(FinHgrpoError, match="bt.toml, outside the workspace .*never from a "
                                            "results folder"):
        verify(folder, run=main)
    assert not marker.exists()


def test_a_workspace_spec_naming_code_in_the_folder_is_refused_unimported(tmp_path, recorded):
    folder = recorded
    marker = tmp_path / "payload-ran"
    (folder / "evil.py").write_text(EVIL.format(marker=marker))
    spec = Path("backtests/tiny_classical.toml").read_text() + (
        f'\n[[strategies]]\nkind = "custom"\npath = "{folder / "evil.py"}:Evil"\n')
    Path("backtests/planted.toml").write_text(spec)
    try:
        _forge(folder, command=["backtest", "backtests/planted.toml"])
        with pytest.raises(FinHgrpoError, match="runs code from backtests/planted.toml, "
                                                "which you did not name"):
            verify(folder, run=main)
    finally:
        Path("backtests/planted.toml").unlink()
    assert not marker.exists()


@pytest.mark.parametrize("extra", [["--ray-address", "evil:6379"], ["--executor", "ray"],
                                   ["--tensorboard", "/tmp/x"], ["--resume", "x"]])
def test_a_manifest_command_with_options_beyond_a_plain_rerun_is_refused(recorded, extra):
    folder = recorded
    _forge(folder, command=[*CLASSICAL, *extra])
    with pytest.raises(FinHgrpoError, match=f"has '{extra[0]}'"):
        verify(folder, run=main)


def test_the_rerun_happens_in_this_workspace_and_a_moved_one_is_named(tmp_path, recorded):
    folder = recorded
    _forge(folder, cwd=str(tmp_path / "elsewhere"))
    result = verify(folder, run=main)
    assert result.identical
    assert result.changes == [f"working directory: {tmp_path / 'elsewhere'} -> {Path.cwd()}"]


@pytest.mark.slow  # tearsheets and risk reports, twice: 20 s
def test_an_untouched_folder_with_tearsheets_and_later_files_verifies(tmp_path):
    """reliability.md N13, N14: verify re-ran without tearsheets and compared every CSV
    under the folder, so the risk reports a tearsheet run writes, and the targets a
    later ``weights`` wrote, failed an untouched folder. The re-run now keeps the
    recorded options and exactly the files it writes are compared."""
    spec = Path("backtests/tiny_classical.toml")
    with_tearsheets = Path("backtests/tiny_tearsheets.toml")
    with_tearsheets.write_text(spec.read_text().replace("tearsheets = false",
                                                        "tearsheets = true"))
    try:
        out = tmp_path / "ts"
        assert main(["backtest", str(with_tearsheets), "--workers", "1", "--out", str(out)]) == 0
        assert list(out.glob("risk/*/contributions.csv"))
        assert main(["weights", str(out), "--strategy", "min_variance"]) == 0
        result = verify(out, run=main)
        assert result.identical, result.lines()
        assert any(name.startswith("risk/") for name in result.differences)
        assert not any(name.startswith("targets/") for name in result.differences)
    finally:
        with_tearsheets.unlink()


def test_an_edited_figure_is_named_where_it_was_edited(recorded, capsys):
    metrics = recorded / "metrics.csv"
    table = pd.read_csv(metrics, index_col=0)
    table.loc["min_variance", "sharpe"] += 0.5
    table.to_csv(metrics)
    assert main(["verify", str(recorded)]) == 1
    out = capsys.readouterr().out
    assert "differs: metrics.csv: largest difference 0.5 (min_variance, sharpe)" in out
    assert "edited or deleted after the run" in out
