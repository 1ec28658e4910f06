import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fin_hgrpo.data import FeatureSpec, MarketPanel, compute_features, synthetic_market
from fin_hgrpo.errors import DataError
from tests.conftest import prices_and_perturbed

ALL = [{"name": "log_return"}, {"name": "momentum", "window": 2},
       {"name": "volatility", "window": 3}, {"name": "ma_ratio", "window": 2},
       {"name": "ema_return", "window": 2}]


def test_features_match_hand_computation(wide_prices):
    features = compute_features(MarketPanel(wide_prices), ALL)
    assert features.names == ("log_return", "momentum_2", "volatility_3", "ma_ratio_2",
                              "ema_return_2")
    aaa = features.to_frame().xs("AAA", axis=1, level="ticker")
    r = np.log([1.1, 0.9, 1.0, 1.1])
    np.testing.assert_allclose(aaa["log_return"].iloc[1:], r)
    assert aaa["momentum_2"].iloc[2] == pytest.approx(np.log(99 / 100))
    assert aaa["volatility_3"].iloc[3] == pytest.approx(np.std(r[:3], ddof=1))
    assert aaa["ma_ratio_2"].iloc[1] == pytest.approx(np.log(110 / 105))
    # weights 2^(-age / 2) on the daily returns seen so far (from the second on)
    decay = 0.5 ** (1 / 2)
    assert aaa["ema_return_2"].iloc[2] == pytest.approx((r[1] + decay * r[0]) / (1 + decay))
    assert np.isnan(aaa["ema_return_2"].iloc[1])  # fewer than 2 returns
    assert features.warmup == 3


def test_signal_feature_repeats_the_signal_for_every_asset():
    market = synthetic_market("signal", n_days=50)
    features = compute_features(market.panel, [{"name": "signal"}])
    values = features.values[..., 0]
    np.testing.assert_array_equal(values[:, 0], market.panel.signals["signal"].to_numpy())
    np.testing.assert_array_equal(values[:, 0], values[:, -1])


def test_bad_specs_are_refused(wide_prices):
    with pytest.raises(ValidationError, match="volatility needs window >= 2"):
        FeatureSpec(name="volatility", window=1)
    with pytest.raises(ValidationError):
        FeatureSpec(name="rsi", window=14)
    with pytest.raises(DataError, match="has no signals"):
        compute_features(MarketPanel(wide_prices), [{"name": "signal"}])
    with pytest.raises(DataError, match="names a feature twice"):
        compute_features(MarketPanel(wide_prices), [{"name": "log_return"}] * 2)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, 59), seed=st.integers(0, 2**16))
def test_features_at_t_ignore_every_price_after_t(t, seed):
    """Perturbation: change every price after day t; nothing up to t may move."""
    prices, changed = prices_and_perturbed(60, t, seed)
    specs = [*ALL, {"name": "volatility", "window": 20}, {"name": "ma_ratio", "window": 10}]
    before = compute_features(MarketPanel(prices), specs).values[: t + 1]
    after = compute_features(MarketPanel(changed), specs).values[: t + 1]
    np.testing.assert_array_equal(before, after)
