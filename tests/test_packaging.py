"""The wheel is a whole product: installed without the source tree, it reads the bundled
sample and writes a workspace that runs a backtest."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built offline from a copy of the project's files (the clone is untouched)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "fin_hgrpo", source / "fin_hgrpo",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out), str(source), cwd=source)
    return next(out.glob("fin_hgrpo-*.whl"))


def test_the_wheel_holds_the_sample_and_the_default_workspace(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("resources/sample/us_stocks_daily.csv", "resources/sample/spy_daily.csv",
                 "resources/sample/README.md", "resources/workspace/backtests/default.toml",
                 "resources/workspace/envs/default.toml",
                 "resources/workspace/strategies/trend_filter.py"):
        assert f"fin_hgrpo/{name}" in names


def test_the_installed_wheel_inits_a_workspace_and_backtests_there(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--quiet", str(wheel), cwd=tmp_path)
    # the dependencies come from this environment's site-packages (no network), whose
    # own .pth files (this project's editable install) are not read from a path entry
    site = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp_path).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = _run(str(python), "-c", "import fin_hgrpo; print(fin_hgrpo.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(site)

    command = venv / "bin" / "fin-hgrpo"
    assert "AAPL" in _run(str(command), "data", "info", "sample", cwd=tmp_path)
    _run(str(command), "init", "study", cwd=tmp_path)
    study = tmp_path / "study"
    out = _run(str(command), "backtest", "backtests/full_history.toml", "--quick",
               "--no-tearsheets", cwd=study)
    assert "report: backtests/results/full_history-quick/report.html" in out
    assert (study / "backtests" / "results" / "full_history-quick" / "returns.csv").is_file()
