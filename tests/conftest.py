"""Shared test helpers: a workspace to run in, tiny specs for plumbing, one classical
backtest that the tests reading its files share, tiny hand-made panels."""

import contextlib
import functools
import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch
import yfinance
import yfinance.utils
from filelock import FileLock

from fin_hgrpo.cli import main
from fin_hgrpo.data import load_sample
from fin_hgrpo.workspace import init_workspace

# a 3-asset synthetic market and agents a few times smaller than the shipped ones: what
# tests of plumbing (CLI, files, logs, verification) train, in a second or two
TINY_ENV = """
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

TINY_AGENT = """
[agent]
algorithm = "{algorithm}"
hidden = 16
n_envs = 8
n_steps = 4
group_size = {group}
epochs = 2
"""

# the classical strategies on the tiny market, for what re-runs a backtest
TINY_CLASSICAL = """
name = "tiny_classical"
env = "envs/tiny.toml"
tearsheets = false
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
max_folds = 2
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "min_variance"
lookback = 100
rebalance = "weekly"
[[strategies]]
kind = "benchmark"
ticker = "S1"
"""

# the tiny agents and two classical strategies on the tiny market, one quick fold
TINY_AGENTS = """
name = "tiny_agents"
env = "envs/tiny.toml"
seeds = [0, 1]
tearsheets = false
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
[quick]
folds = 1
steps = 64
[[strategies]]
kind = "agent"
spec = "strategies/ppo_tiny.toml"
steps = 256
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo_tiny.toml"
steps = 256
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "benchmark"
ticker = "S1"
"""


def write_tiny_specs(folder: Path) -> None:
    """``envs/tiny.toml``, ``strategies/{ppo,grpo,hgrpo}_tiny.toml`` and two backtests
    of them, ``backtests/tiny_classical.toml`` and ``backtests/tiny_agents.toml``."""
    (folder / "envs").mkdir(exist_ok=True)
    (folder / "envs" / "tiny.toml").write_text(TINY_ENV)
    (folder / "strategies").mkdir(exist_ok=True)
    for name, algorithm, group in (("ppo", "ppo", 1), ("grpo", "grpo", 4),
                                   ("hgrpo", "hybrid_grpo", 4)):
        (folder / "strategies" / f"{name}_tiny.toml").write_text(
            TINY_AGENT.format(algorithm=algorithm, group=group))
    (folder / "backtests").mkdir(exist_ok=True)
    (folder / "backtests" / "tiny_classical.toml").write_text(TINY_CLASSICAL)
    (folder / "backtests" / "tiny_agents.toml").write_text(TINY_AGENTS)


def write_tiny_workspace(folder: Path) -> None:
    """``envs/tiny.toml`` and the tiny agents under the shipped names the backtest
    tests' specs use: ``strategies/ppo.toml`` and ``strategies/hgrpo.toml``."""
    (folder / "envs").mkdir(exist_ok=True)
    (folder / "envs" / "tiny.toml").write_text(TINY_ENV)
    (folder / "strategies").mkdir(exist_ok=True)
    (folder / "strategies" / "ppo.toml").write_text(TINY_AGENT.format(algorithm="ppo",
                                                                      group=1))
    (folder / "strategies" / "hgrpo.toml").write_text(
        TINY_AGENT.format(algorithm="hybrid_grpo", group=4))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding envs/tiny.toml and strategies/{ppo,hgrpo}.toml."""
    write_tiny_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)  # two workers on two cores: no oversubscription


@pytest.fixture(scope="session", autouse=True)
def session_workspace(tmp_path_factory: pytest.TempPathFactory):
    """Every test runs in a fresh workspace written by ``init``, as a user's does: specs
    at ``envs/``, ``strategies/``, ``backtests/``, results under it, never in the clone;
    with the tiny specs beside the shipped ones."""
    folder = tmp_path_factory.mktemp("workspace")
    init_workspace(folder)
    write_tiny_specs(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        # checkpoints are signed with a key of the session's, not the user's
        patch.setenv("FIN_HGRPO_KEY", str(folder.parent / "checkpoint.key"))
        yield folder


class Run(NamedTuple):
    """A command run once for the session: its result folder, what it printed, and the
    arguments it was run with (``--out`` included)."""

    folder: Path
    printed: str
    argv: list[str]


def run_once(tmp_path_factory: pytest.TempPathFactory, name: str, argv: list[str]) -> Run:
    """``fin-hgrpo *argv --out <shared>/name`` run once for the whole session, whichever
    pytest-xdist worker asks first (the others wait and read its files)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common base
    out, printed = shared / name, shared / f"{name}.json"
    argv = [*argv, "--out", str(out)]
    with FileLock(str(shared / f"{name}.lock")):
        if not printed.is_file():
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                assert main(argv) == 0
            printed.write_text(json.dumps({"stdout": buffer.getvalue()}))
    return Run(out, json.loads(printed.read_text())["stdout"], argv)


@pytest.fixture(scope="session")
def classical_run(tmp_path_factory) -> Run:
    """The shipped point-in-time backtest's quick run: classical strategies on the full
    bundled history (without tearsheets). Tests read its files; a test that changes
    them works on a copy."""
    return run_once(tmp_path_factory, "full_history-quick",
                    ["backtest", "backtests/full_history.toml", "--quick", "--workers", "1",
                     "--no-tearsheets"])


# ---- yfinance without the network --------------------------------------------------------
@functools.cache
def yahoo_history() -> pd.DataFrame:
    """Real prices (the bundled sample's) the fake yfinance answers from."""
    return load_sample(["AAPL", "JPM", "XOM", "SPY"], start="2019-01-02",
                       end="2023-03-31").prices




def _history(ticker: str, start: str, end: str, adjust=None) -> pd.DataFrame:
    """One ticker as Ticker.history(auto_adjust=False) gives it: OHLC, Adj Close, Volume.

    ``adjust(ticker, dates)``: factors Yahoo's back-adjustment applies on the day of the
    download (1 where no split or dividend has happened since)."""
    history = yahoo_history()
    adj = history[ticker].loc[(history.index >= start) & (history.index < end)]
    if adjust is not None:
        adj = adj * adjust(ticker, adj.index)
    close = adj * 1.02  # unadjusted close sits above the dividend-adjusted one
    frame = pd.DataFrame({"Open": close * 0.99, "High": close * 1.01, "Low": close * 0.98,
                          "Close": close, "Adj Close": adj,
                          "Volume": np.arange(len(adj), dtype=np.int64) + 1_000_000})
    frame.index = pd.DatetimeIndex(adj.index, name="Date")
    return frame


class Recorder:
    """Stands in for yfinance.download and remembers each call."""

    def __init__(self, fail_times: int = 0, unknown=("TYPO",)) -> None:
        self.history = yahoo_history()  # the real prices it answers from
        self.calls: list[tuple[list[str], str, str]] = []
        self.fail_times = fail_times
        self.unknown = set(unknown)
        self.coming: list[tuple[str, pd.Timestamp, float]] = []  # ticker, ex-date, factor

    def corporate_action(self, ticker: str, ex_date: str, factor: float) -> None:
        """A split or dividend not yet in Yahoo's adjustment: until ``effective()``,
        history before ``ex_date`` comes back divided by ``factor`` (0.25 for a 4:1 split,
        1 - D/P for a dividend D), as it was before Yahoo back-adjusted it."""
        self.coming.append((ticker, pd.Timestamp(ex_date), factor))

    def effective(self) -> None:
        """The actions happened: history comes back adjusted for them (``history``)."""
        self.coming = []

    def _adjust(self, ticker: str, dates: pd.DatetimeIndex) -> np.ndarray:
        factors = np.ones(len(dates))
        for name, ex_date, factor in self.coming:
            if name == ticker:
                factors[dates < ex_date] /= factor
        return factors

    def __call__(self, tickers, start=None, end=None, multi_level_index=True, **kwargs):
        assert kwargs["auto_adjust"] is False and kwargs["progress"] is False
        tickers = [tickers] if isinstance(tickers, str) else list(tickers)
        self.calls.append((sorted(tickers), start, end))
        failing = self.fail_times > 0
        self.fail_times -= 1
        dfs = {}
        for ticker in tickers:
            if failing or ticker in self.unknown:
                dfs[ticker] = yfinance.utils.empty_df()
            else:
                dfs[ticker] = _history(ticker, start, end, self._adjust)
        # as yfinance.multi._download_impl assembles them
        index = None
        for df in dfs.values():
            if not df.empty:
                index = df.index if index is None else index.union(df.index)
        index = pd.DatetimeIndex([]) if index is None else index
        dfs = {k: v.reindex(index) for k, v in dfs.items()}
        data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(),
                         names=["Ticker", "Price"])
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
        if not multi_level_index and len(tickers) == 1:
            data = data.droplevel(1, axis=1).rename_axis(None, axis=1)
        return data


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    """yfinance.download replaced by a ``Recorder`` (and no sleeping between retries)."""
    fake = Recorder()
    monkeypatch.setattr(yfinance, "download", fake)
    monkeypatch.setattr("time.sleep", lambda s: None)
    return fake


@pytest.fixture
def wide_prices() -> pd.DataFrame:
    """Two tickers over five days, prices chosen to make returns easy to check by hand."""
    dates = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])
    return pd.DataFrame(
        {"AAA": [100.0, 110.0, 99.0, 99.0, 108.9], "BBB": [50.0, 50.0, 55.0, 44.0, 44.0]},
        index=pd.DatetimeIndex(dates, name="date"),
    )


def prices_and_perturbed(n_days: int, t: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random walk of three tickers, and a copy with every price after day t changed:
    the pair a perturbation test compares to prove that nothing at t looks ahead."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-01", periods=n_days)
    prices = pd.DataFrame(np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, 3)), axis=0)),
                          index=dates, columns=["A", "B", "C"])
    changed = prices.copy()
    changed.iloc[t + 1:] *= rng.uniform(0.5, 2.0, changed.iloc[t + 1:].shape)
    return prices, changed
