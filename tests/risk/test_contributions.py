import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fin_hgrpo.measures.performance import cvar_95
from fin_hgrpo.risk.contributions import (
    beta,
    concentration,
    covariance,
    shortfall_contributions,
    volatility_contributions,
)


def _scenarios(seed: int, n_assets: int = 4, days: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mix = rng.normal(0, 0.01, (n_assets, n_assets))
    return pd.DataFrame(rng.normal(0, 1, (days, n_assets)) @ mix,
                        columns=[f"A{i}" for i in range(n_assets)])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), raw=st.lists(st.floats(0.01, 1), min_size=5, max_size=5))
def test_euler_contributions_add_up_to_volatility_and_shortfall(seed, raw):
    scenarios = _scenarios(seed)
    weights = pd.Series(np.array(raw) / sum(raw), index=[*scenarios.columns, "cash"])
    cov = covariance(scenarios)
    w = weights.drop("cash").to_numpy()
    vol = volatility_contributions(weights, cov, periods=252)
    assert vol.sum() == pytest.approx(np.sqrt(w @ cov.to_numpy() @ w * 252))
    assert vol["cash"] == 0
    shortfall = shortfall_contributions(weights, scenarios)
    portfolio = scenarios @ weights.drop("cash")
    assert shortfall.sum() == pytest.approx(-cvar_95(portfolio))


def test_identical_independent_assets_share_1_over_n_equally():
    cov = pd.DataFrame(np.eye(4) * 1e-4, index=list("ABCD"), columns=list("ABCD"))
    weights = pd.Series([0.25] * 4 + [0.0], index=[*"ABCD", "cash"])
    vol = volatility_contributions(weights, cov, periods=252)
    assert vol.drop("cash").to_numpy() == pytest.approx([vol["A"]] * 4)
    assert vol.sum() == pytest.approx(0.01 * np.sqrt(252) / 2)  # sigma / sqrt(4)


def test_covariance_is_shrunk_towards_a_scaled_identity():
    scenarios = _scenarios(1, n_assets=6, days=60)
    shrunk, sample = covariance(scenarios).to_numpy(), np.cov(scenarios.T, bias=True)
    off = ~np.eye(6, dtype=bool)
    assert np.abs(shrunk[off]).sum() < np.abs(sample[off]).sum()
    assert np.trace(shrunk) == pytest.approx(np.trace(sample))


def test_concentration_of_1_over_n_and_of_one_stock():
    equal = pd.Series([0.25] * 4 + [0.0], index=[*"ABCD", "cash"])
    assert concentration(equal)["effective_assets"] == pytest.approx(4)
    assert concentration(equal)["herfindahl"] == pytest.approx(0.25)
    single = pd.Series([0.6, 0, 0, 0, 0.4], index=[*"ABCD", "cash"])
    summary = concentration(single)
    assert summary["effective_assets"] == pytest.approx(1)
    assert list(summary["largest"])[0] == "A" and summary["cash"] == 0.4


def test_beta_of_the_benchmark_itself_is_one_and_of_half_of_it_a_half():
    scenarios = _scenarios(2)
    benchmark = scenarios["A0"]
    one = pd.Series([1.0, 0, 0, 0, 0], index=[*scenarios.columns, "cash"])
    half = pd.Series([0.5, 0, 0, 0, 0.5], index=[*scenarios.columns, "cash"])
    assert beta(one, scenarios, benchmark) == pytest.approx(1.0)
    assert beta(half, scenarios, benchmark) == pytest.approx(0.5)
