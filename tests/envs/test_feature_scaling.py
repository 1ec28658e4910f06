import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.envs.feature_scaling import standardise


def _values(days=600, seed=0, scales=(0.01, 0.05, 0.02)):
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 1.0, (days, len(scales), 2)) * np.asarray(scales)[None, :, None]
    values[:10, 1] = np.nan  # one asset's features start later
    return values


@settings(max_examples=20, deadline=None)
@given(t=st.integers(30, 500), seed=st.integers(0, 2**16),
       method=st.sampled_from(["pooled", "per_asset"]))
def test_a_day_is_scaled_by_that_day_and_the_days_before_only(t, seed, method):
    values = _values(seed=seed)
    changed = values.copy()
    changed[t + 1:] *= np.random.default_rng(seed + 1).uniform(0.1, 10.0, changed[t + 1:].shape)
    np.testing.assert_array_equal(standardise(values, method)[:t + 1],
                                  standardise(changed, method)[:t + 1])


def test_a_window_and_a_longer_one_from_the_same_start_agree_on_shared_days():
    values = _values()
    np.testing.assert_array_equal(standardise(values[:400], "per_asset"),
                                  standardise(values, "per_asset")[:400])


def test_per_asset_scaling_puts_every_asset_on_one_scale():
    z = standardise(_values(days=2000), "per_asset")[200:]
    np.testing.assert_allclose(np.nanstd(z, axis=(0, 2)), 1.0, atol=0.1)
    pooled = standardise(_values(days=2000), "pooled")[200:]
    assert np.nanstd(pooled[:, 0]) < 0.5 < 1.5 < np.nanstd(pooled[:, 1])  # the review's M2


def test_a_crash_day_in_one_asset_leaves_the_others_alone_and_its_own_scale_nearly():
    values = _values()
    crashed = values.copy()
    crashed[300, 0, 0] = -50 * 0.01  # a 50-deviation day in asset 0's first feature
    before, after = standardise(values, "per_asset"), standardise(crashed, "per_asset")
    np.testing.assert_array_equal(before[:, 1:], after[:, 1:])
    assert after[300, 0, 0] < -10  # reported in full (the simulator clips it)
    # later values of its own move by under 0.2 deviations: the crash entered the
    # statistics winsorised at 5 deviations (in full it would move them by 1.8)
    assert np.abs(after[301:, 0, 0] - before[301:, 0, 0]).max() < 0.2
    untamed = standardise(crashed, "per_asset", winsor=1e9)
    assert np.abs(untamed[301:, 0, 0] - before[301:, 0, 0]).max() > 1.0
    pooled = standardise(crashed, "pooled")
    assert not np.allclose(pooled[301:, 1], standardise(values, "pooled")[301:, 1])


def test_the_env_spec_chooses_the_scaling():
    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_days": 300},
                                   "feature_scaling": "per_asset", "feature_halflife": 63})
    sim = spec.build_sim()
    assert sim.features[sim.first_decision:].abs().max() <= 10.0
    with pytest.raises(Exception, match="feature_scaling"):
        EnvSpec.model_validate({"feature_scaling": "global"})
    with pytest.raises(ValueError, match="halflife"):
        standardise(_values(), "per_asset", halflife=0)
