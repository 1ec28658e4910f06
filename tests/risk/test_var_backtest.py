import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.risk.var_backtest import (
    christoffersen,
    exceedances,
    kupiec,
    rolling_var,
    var_backtest,
)


def test_kupiec_against_the_textbook_case():
    # 5 exceedances in 250 days at 99%: LR 1.96, not rejected at 5% (Jorion's example)
    ratio, p = kupiec(250, 5, 0.99)
    by_hand = (-2 * (245 * np.log(0.99) + 5 * np.log(0.01))
               + 2 * (245 * np.log(0.98) + 5 * np.log(0.02)))
    assert ratio == pytest.approx(by_hand) and ratio == pytest.approx(1.9568, abs=1e-4)
    assert p == pytest.approx(0.1619, abs=1e-4)
    assert kupiec(250, 0, 0.99)[0] == pytest.approx(-2 * 250 * np.log(0.99))


def test_christoffersen_against_hand_counted_transitions():
    hits = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0]
    # transitions: n00 = 4, n01 = 3, n10 = 3, n11 = 3
    n00, n01, n10, n11 = 4, 3, 3, 3
    pi0, pi1, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 13
    by_hand = -2 * ((n00 + n10) * np.log(1 - pi) + (n01 + n11) * np.log(pi)) + 2 * (
        n00 * np.log(1 - pi0) + n01 * np.log(pi0) + n10 * np.log(1 - pi1) + n11 * np.log(pi1))
    ratio, p = christoffersen(hits)
    assert ratio == pytest.approx(by_hand)
    assert 0 < p < 1
    assert christoffersen([0] * 50)[0] == pytest.approx(0.0)


def test_forecasts_use_only_the_days_before():
    returns = pd.Series(np.random.default_rng(0).normal(0, 0.01, 400))
    var = rolling_var(returns, 0.95, 100)
    assert var.iloc[:100].isna().all()
    assert var.iloc[100] == pytest.approx(-returns.iloc[:100].quantile(0.05))
    changed = returns.copy()
    changed.iloc[200:] *= 5
    pd.testing.assert_series_equal(rolling_var(changed, 0.95, 100).iloc[:201], var.iloc[:201])


def test_a_model_that_is_too_tight_is_flagged_and_a_right_one_is_not():
    rng = np.random.default_rng(3)
    returns = pd.Series(rng.standard_t(5, 3000) * 0.01)
    right = var_backtest(returns, level=0.99, window=500)
    assert (right.set_index("method").loc["historical", "kupiec_p"]) > 0.01
    tight = exceedances(returns, pd.Series(0.5 * 0.01 * 2.33, index=returns.index))
    ratio, p = kupiec(len(tight), int(tight.sum()), 0.99)
    assert tight.sum() > 5 * 0.01 * len(tight) and p < 1e-6
