"""Every script in examples/ runs, on a small budget, in a workspace and without the
network: stale examples are worse than none."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fin_hgrpo.data import load_sample
from fin_hgrpo.data.price_cache import PriceCache
from fin_hgrpo.data.validation import PRICE_FIELDS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
YF_TICKERS = ["AAPL", "AMZN", "JPM", "WMT", "XOM", "PFE", "T", "GE"]


def _run(script: str, *args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_is_tested():
    tested = {"quickstart.py", "user_strategy.py", "sb3_on_our_env.py", "yfinance_study.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow  # a subprocess that imports torch and trains or backtests
def test_quickstart_trains_backtests_and_reports(session_workspace, tmp_path):
    out = _run("quickstart.py", "--steps", "512", "--folds", "1", "--workers", "1",
               "--out", str(tmp_path),
               cwd=session_workspace)
    assert "19 assets, 2567 days" in out
    for strategy in ("hybrid_grpo", "equal_weight", "benchmark"):
        assert strategy in out
    assert (tmp_path / "report.html").is_file()


@pytest.mark.slow  # a subprocess that imports torch and trains or backtests
def test_user_strategy_runs_beside_the_baselines(session_workspace, tmp_path):
    out = _run("user_strategy.py", "--folds", "1", "--workers", "1", "--out", str(tmp_path),
               cwd=session_workspace)
    assert "low_volatility" in out and "min_variance" in out
    returns = pd.read_csv(tmp_path / "returns.csv", index_col=0)
    assert "low_volatility" in returns.columns


@pytest.mark.slow  # a subprocess that imports torch and trains or backtests
def test_sb3_example_trains_on_our_env(session_workspace):
    pytest.importorskip("stable_baselines3")
    out = _run("sb3_on_our_env.py", "--steps", "256", cwd=session_workspace)
    assert "SB3 PPO after 256 steps: skill" in out


@pytest.mark.slow  # a subprocess that imports torch and trains or backtests
def test_yfinance_study_runs_offline_from_a_cache(session_workspace, tmp_path):
    cache = tmp_path / "cache"
    prices = load_sample(YF_TICKERS).prices  # real prices, stored as the cache stores bars
    start, end = pd.Timestamp("2015-01-01"), pd.Timestamp("2024-11-30")
    for ticker in YF_TICKERS:
        bars = pd.DataFrame({field: prices[ticker] for field in PRICE_FIELDS})
        PriceCache(cache, "1d").write(ticker, bars.assign(volume=0.0), start, end)
    out = _run("yfinance_study.py", "--offline", "--cache-dir", str(cache), "--workers", "1",
               "--out", str(tmp_path / "study"), cwd=session_workspace)
    assert "AAPL: " in out and "rows from cache, nothing downloaded" in out
    assert "momentum" in out and (tmp_path / "study" / "report.html").is_file()


@pytest.mark.slow  # a subprocess that imports torch and trains or backtests
def test_yfinance_study_offline_names_what_the_cache_lacks(session_workspace, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "yfinance_study.py"), "--offline",
                           "--cache-dir", str(tmp_path)], cwd=session_workspace,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "does not cover" in done.stderr and "AAPL" in done.stderr
