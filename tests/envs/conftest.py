import pandas as pd
import pytest

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import PortfolioSim

TINY_FEATURES = [{"name": "log_return"}]


def tiny_panel() -> MarketPanel:
    """Two assets; from day 1 to day 2, A gains 10% and B is flat; then A -10%, B +10%."""
    dates = pd.bdate_range("2024-01-01", periods=5)
    return MarketPanel(pd.DataFrame({"A": [100.0, 100.0, 110.0, 99.0, 99.0],
                                     "B": [50.0, 50.0, 50.0, 55.0, 55.0]}, index=dates))


def tiny_sim(**kwargs) -> PortfolioSim:
    options = {"features": TINY_FEATURES, "window": 1, "normalize_features": False,
               "cost_bps": 10.0, **kwargs}
    return PortfolioSim(tiny_panel(), **options)


@pytest.fixture
def sim() -> PortfolioSim:
    return tiny_sim()
