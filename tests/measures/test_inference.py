import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.measures.inference import sharpe_difference


def test_interval_covers_a_constant_edge_and_is_seeded():
    rng = np.random.default_rng(3)
    base = pd.Series(0.0003 + 0.01 * rng.standard_normal(750))
    better = base + 0.0005
    result = sharpe_difference(better, base)
    assert result.low < result.difference < result.high
    assert result.low > 0  # a constant daily edge with the same noise is significant
    assert sharpe_difference(better, base) == result
    same = sharpe_difference(base, base)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("n", [15, 40])
def test_short_overlaps_shrink_the_blocks_instead_of_crashing(n):
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.001, 0.01, n), rng.normal(0.0, 0.01, n)
    result = sharpe_difference(a, b, resamples=200)
    assert result.block <= n // 2 and np.isfinite([result.low, result.high]).all()


def test_too_few_shared_days_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 10 shared days, got 6"):
        sharpe_difference(np.ones(6), np.ones(6))


def test_studentized_interval_covers_a_known_difference_at_its_level():
    """Simulated pairs with a known Sharpe difference (correlated, fat-tailed, with
    volatility clustering): the 90% interval covers the truth about 90% of the time."""
    rng = np.random.default_rng(11)
    n, sims, covered = 500, 200, 0
    mu_a, mu_b, sigma = 0.0008, 0.0002, 0.01
    true = (mu_a - mu_b) / sigma * np.sqrt(252)
    for k in range(sims):
        shocks = rng.standard_t(6, (2, n)) / np.sqrt(1.5)
        vol = np.exp(0.3 * np.convolve(rng.standard_normal(n), np.ones(10) / np.sqrt(10),
                                       "same"))
        vol /= np.sqrt(np.mean(vol**2))
        z, e = shocks
        a = mu_a + sigma * vol * (0.7 * z + np.sqrt(1 - 0.49) * e)
        b = mu_b + sigma * vol * z
        result = sharpe_difference(a, b, resamples=300, level=0.9, seed=k)
        covered += result.low <= true <= result.high
    assert 0.84 <= covered / sims <= 0.97


def test_seed_spread_widens_the_interval():
    """Seeds are draws: the same market days with seeds that disagree carry less
    evidence than one seed repeated."""
    rng = np.random.default_rng(5)
    base = 0.0003 + 0.01 * rng.standard_normal(750)
    agree = np.stack([base + 0.0004] * 5)
    spread = np.stack([base + edge + 0.002 * rng.standard_normal(750)
                       for edge in (-0.0004, 0.0, 0.0004, 0.0008, 0.0012)])
    one = sharpe_difference(agree, base)
    many = sharpe_difference(spread, base)
    assert many.high - many.low > one.high - one.low
    assert one.seeds == 5 and many.difference == pytest.approx(
        np.mean([sharpe_difference(s, base).difference for s in spread]))


def test_seeds_that_mostly_hold_the_baseline_get_a_narrow_interval_not_an_infinite_one():
    rng = np.random.default_rng(3)
    baseline = rng.normal(0.0004, 0.01, 2000)
    seeds = np.tile(baseline, (5, 1))
    seeds[0, 500:750] += rng.normal(0.0, 0.001, 250)  # one seed departed for a while
    result = sharpe_difference(seeds, baseline)
    assert np.isfinite(result.low) and np.isfinite(result.high)
    assert result.low <= result.difference <= result.high
    assert result.high - result.low < 0.05
