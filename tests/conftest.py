"""Shared test helpers: a workspace to run in, tiny hand-made panels."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.workspace import init_workspace


@pytest.fixture(scope="session", autouse=True)
def session_workspace(tmp_path_factory: pytest.TempPathFactory):
    """Every test runs in a fresh workspace written by ``init``, as a user's does: specs
    at ``envs/``, ``strategies/``, ``backtests/``, results under it, never in the clone."""
    folder = tmp_path_factory.mktemp("workspace")
    init_workspace(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield folder


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
