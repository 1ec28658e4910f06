"""SPA and StepM against 1/N: the right size on null markets, power on a planted edge."""

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.measures.multiple import best_against_baseline

DAYS = 2520  # ten years


def _panel(seed: int, edge: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    """Twenty strategies that track the baseline with independent daily errors; the
    fourth earns ``edge`` (annualised Sharpe of the difference) more."""
    rng = np.random.default_rng(seed)
    baseline = pd.Series(rng.normal(0.0003, 0.01, DAYS))
    tracking = 0.004
    models = pd.DataFrame(baseline.to_numpy()[:, None] + rng.normal(0, tracking, (DAYS, 20)),
                          columns=[f"m{i}" for i in range(20)])
    models["m3"] += edge * tracking / np.sqrt(252)
    return models, baseline


def test_on_null_markets_the_best_of_twenty_seldom_beats_the_baseline():
    rejected = [best_against_baseline(*_panel(seed), reps=300, seed=seed).p_consistent < 0.05
                for seed in range(10)]
    assert sum(rejected) <= 2  # P(3 or more of 10 at a 5% size) is about 1%


def test_a_planted_edge_is_found_and_named():
    for seed in range(5):
        found = best_against_baseline(*_panel(seed, edge=1.5), reps=300, seed=seed)
        assert found.p_consistent < 0.05
        assert found.superior == ["m3"]


def test_only_shared_days_count_and_a_short_overlap_is_refused():
    models, baseline = _panel(0)
    models.iloc[:100] = np.nan
    found = best_against_baseline(models, baseline, reps=100)
    assert (found.days, found.models, found.block) == (DAYS - 100, 20, 20)
    with pytest.raises(ValueError, match="5 shared days"):
        best_against_baseline(models.iloc[95:105], baseline)
