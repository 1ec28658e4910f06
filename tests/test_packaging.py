"""The wheel is a whole product: built from the sdist and installed without the source
tree, it reads the bundled sample and writes a workspace that runs a backtest."""

import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = ("data/sample/us_stocks_daily.csv", "data/sample/spy_daily.csv",
            "data/sample/README.md", "backtests/default.toml", "envs/default.toml",
            "strategies/trend_filter.py")

pytestmark = pytest.mark.slow


def _run(*command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """The sdist, built offline from the clone (which is left as it was)."""
    out = tmp_path_factory.mktemp("sdist")
    _run(sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d",
         str(out), cwd=REPO)
    return next(out.glob("fin_hgrpo-*.tar.gz"))


@pytest.fixture(scope="module")
def wheel(sdist, tmp_path_factory) -> Path:
    """The wheel built from the unpacked sdist, as pip builds one from PyPI."""
    source = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        archive.extractall(source, filter="data")
    [project] = source.iterdir()
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out), str(project), cwd=project)
    return next(out.glob("fin_hgrpo-*.whl"))


def test_the_sdist_keeps_the_top_level_and_leaves_results_out(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert set(DEFAULTS) <= names
    assert not any(name.startswith(("backtests/results", "data/cache")) for name in names)


def test_the_wheel_holds_the_sample_and_the_default_workspace(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in DEFAULTS:
        assert f"fin_hgrpo/_defaults/{name}" in names
    assert not any("/results/" in name or "/cache/" in name for name in names)


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
               "--no-tearsheets", "--workers", "1", cwd=study)
    assert "report: backtests/results/full_history-quick/report.html" in out
    assert (study / "backtests" / "results" / "full_history-quick" / "returns.csv").is_file()
