"""Shrinking a tilt toward its base: kappa from the t-statistic, caps, mixes that stay
portfolios."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fin_hgrpo.strategies.shrinkage import (
    MIN_DAYS,
    Tilt,
    alpha_t_statistic,
    best_cap,
    skill_kappa,
    t_statistic,
    tilt_base,
)


def test_a_tilt_kept_in_part_is_the_mix_of_target_and_base():
    target, base = np.array([0.5, 0.3, 0.2, 0.0]), np.array([1 / 3, 1 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(Tilt(kappa=0.75).apply(target, base),
                               base + 0.75 * (target - base))
    np.testing.assert_array_equal(Tilt(kappa=0.0).apply(target, base), base)
    assert Tilt(kappa=0.0).holds_base and Tilt(cap=0.0).holds_base
    assert not Tilt(kappa=0.5).holds_base


def test_a_cap_scales_a_tilt_down_to_the_active_share_it_allows():
    target, base = np.array([0.7, 0.2, 0.1, 0.0]), np.array([0.25, 0.25, 0.25, 0.25])
    capped = Tilt(cap=0.1).apply(target, base)
    assert 0.5 * np.abs(capped - base).sum() == pytest.approx(0.1)
    np.testing.assert_allclose(capped - base, (target - base) * 0.1 / 0.45)
    # a tilt already inside the cap is kept whole
    np.testing.assert_array_equal(Tilt(cap=0.9).apply(target, base), target)


@given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
       st.lists(st.floats(0.01, 1.0), min_size=4, max_size=4),
       st.floats(0.0, 1.0), st.sampled_from([None, 0.0, 0.05, 0.3, 1.0]))
def test_a_shrunk_target_stays_on_the_simplex(raw, raw_base, kappa, cap):
    target = np.asarray(raw) + 1e-9
    target, base = target / target.sum(), np.asarray(raw_base) / sum(raw_base)
    out = Tilt(kappa=kappa, cap=cap).apply(target, base)
    assert out.min() >= -1e-12
    assert out.sum() == pytest.approx(1.0)
    if cap is not None:
        assert 0.5 * np.abs(out - base).sum() <= cap + 1e-12


def test_t_statistic_is_the_mean_over_its_newey_west_standard_error():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.01, 5000)
    # independent days: the Newey-West error is the plain one, to sampling error
    plain = noise.mean() / (noise.std(ddof=1) / np.sqrt(len(noise)))
    assert t_statistic(noise) == pytest.approx(plain, rel=0.1, abs=0.1)
    # a day repeated five times carries one day's evidence: the t shrinks by about sqrt 5
    repeated = np.repeat(noise[:1000] + 0.002, 5)
    naive = repeated.mean() / (repeated.std(ddof=1) / np.sqrt(len(repeated)))
    assert t_statistic(repeated) < 0.7 * naive


def test_kappa_is_one_less_the_inverse_square_t_above_one_and_zero_below():
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 0.01, 2000)
    noise -= noise.mean()
    for t_wanted, kappa in ((3.0, 1 - 1 / 9), (2.0, 0.75), (0.5, 0.0), (-3.0, 0.0)):
        shift = t_wanted * np.sqrt(np.var(noise, ddof=0) / len(noise))
        active = noise + shift
        t = t_statistic(active)
        assert skill_kappa(active) == pytest.approx(max(0.0, 1 - 1 / t**2) if t > 1 else 0.0)
        assert skill_kappa(active) == pytest.approx(kappa, abs=0.1)
    # a record too short is no evidence; a flat one neither
    assert skill_kappa(np.full(MIN_DAYS - 1, 0.01)) == 0.0
    assert skill_kappa(np.zeros(300)) == 0.0


def test_the_best_cap_is_the_past_best_sharpe_and_the_base_without_a_past():
    days = pd.bdate_range("2020-01-01", periods=100)
    rng = np.random.default_rng(2)
    good = pd.Series(rng.normal(0.002, 0.01, 100), days)
    bad = pd.Series(rng.normal(-0.002, 0.01, 100), days)
    assert best_cap([0.0, 0.1, 0.2], [bad, good, bad]) == 0.1
    empty = pd.Series(dtype=float)
    assert best_cap([0.0, 0.1], [empty, empty]) == 0.0
    assert best_cap([0.0, 0.1], [good, good]) == 0.0  # ties: the smaller tilt


def test_the_base_of_an_agent_without_a_table_is_one_over_n_of_the_tradable():
    prices = pd.DataFrame({"A": [1.0, 1.1], "B": [2.0, 2.1], "C": [3.0, 3.1]})
    np.testing.assert_allclose(tilt_base(None, prices, np.array([True, False, True])),
                               [0.5, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(tilt_base("equal_weight", prices, np.ones(3, bool)),
                               [1 / 3, 1 / 3, 1 / 3, 0.0])


def test_a_tilt_that_only_adds_the_bases_risk_has_a_mean_but_no_alpha():
    rng = np.random.default_rng(4)
    market = rng.normal(0.0008, 0.01, 3000)
    noise = rng.normal(0.0, 0.002, 3000)
    beta_only = 0.8 * market + noise  # toward the volatile names
    assert t_statistic(beta_only) > 2.0 and skill_kappa(beta_only) > 0.7
    assert abs(alpha_t_statistic(beta_only, market)) < 2.0
    assert skill_kappa(beta_only, market) < skill_kappa(beta_only)
    alpha = 0.0004 + 0.8 * market + noise  # the same risk, and a real alpha
    assert skill_kappa(alpha, market) > 0.5


def test_the_alpha_t_statistic_is_the_ols_one_on_independent_days():
    rng = np.random.default_rng(5)
    market = rng.normal(0.0, 0.01, 5000)
    active = 0.0002 + 0.3 * market + rng.normal(0.0, 0.004, 5000)
    x = np.column_stack([np.ones(5000), market])
    coef, residual, *_ = np.linalg.lstsq(x, active, rcond=None)
    variance = residual[0] / (5000 - 2) * np.linalg.inv(x.T @ x)[0, 0]
    assert alpha_t_statistic(active, market) == pytest.approx(coef[0] / np.sqrt(variance),
                                                              rel=0.1)
    assert np.isnan(alpha_t_statistic(active[:2], market[:2]))
