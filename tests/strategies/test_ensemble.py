import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.strategies import Strategy
from fin_hgrpo.strategies.ensemble import SeedEnsemble


class _Fixed(Strategy):
    def __init__(self, weights) -> None:
        self.target = np.asarray(weights, float)
        self.fitted = 0

    def fit(self, train) -> None:
        self.fitted += 1

    def weights(self, decision):
        return self.target


def test_the_ensemble_trades_the_mean_of_its_members_targets():
    dates = pd.bdate_range("2024-01-01", periods=6)
    prices = pd.DataFrame({"A": [100, 101, 103, 99, 98, 100.0],
                           "B": [50, 50, 49, 51, 52, 53.0]}, index=dates)
    sim = PortfolioSim(MarketPanel(prices), features=[{"name": "log_return"}], window=1,
                       normalize_features=False)
    members = [_Fixed([1.0, 0.0, 0.0]), _Fixed([0.0, 0.5, 0.5])]
    ensemble = SeedEnsemble(members, name="pair_ensemble")
    ensemble.fit(MarketPanel(prices))
    assert [m.fitted for m in members] == [1, 1]
    run = run_strategy(ensemble, sim, 1, 4)
    np.testing.assert_allclose(run.weights.iloc[0], [0.5, 0.25, 0.25])
    direct = run_strategy(_Fixed([0.5, 0.25, 0.25]), sim, 1, 4)
    pd.testing.assert_frame_equal(run.daily, direct.daily)


def test_an_ensemble_needs_members():
    with pytest.raises(ValueError, match="empty_ensemble: an ensemble needs"):
        SeedEnsemble([], name="empty_ensemble")
