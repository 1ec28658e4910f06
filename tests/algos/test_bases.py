import numpy as np
import pytest
import torch

from fin_hgrpo.algos.bases import base_table, base_tensor, base_weights
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import PortfolioSim
from fin_hgrpo.strategies import Decision, InverseVolatility, MinVariance
from tests.conftest import prices_and_perturbed

FEATURES = [{"name": "log_return"}]


def _sim(prices) -> PortfolioSim:
    return PortfolioSim(MarketPanel(prices), features=FEATURES, window=1)


@pytest.mark.parametrize(("kind", "strategy"), [("inverse_volatility", InverseVolatility),
                                                ("min_variance", MinVariance)])
def test_a_base_is_its_classical_strategy_and_never_looks_ahead(kind, strategy):
    prices, changed = prices_and_perturbed(300, 200, seed=3)
    table, other = base_table(_sim(prices), kind), base_table(_sim(changed), kind)
    assert table.shape == (300, 4)
    np.testing.assert_allclose(table.sum(1), 1.0, atol=1e-12)
    # row t is what the strategy names at the close of t ...
    held = np.r_[np.zeros(3), 1.0]
    for t in (5, 150, 299):
        decision = Decision(prices.index[t], prices.iloc[:t + 1], held, lambda: None)
        np.testing.assert_allclose(table[t], strategy().weights(decision), atol=1e-12)
    # ... and no later price changes it
    np.testing.assert_array_equal(table[:201], other[:201])
    assert not np.allclose(table[201:], other[201:])


def test_equal_weight_and_holdings_bases():
    prices, _ = prices_and_perturbed(40, 20, seed=0)
    sim = _sim(prices)
    decisions = base_table(sim, "equal_weight")[sim.first_decision:]
    np.testing.assert_allclose(decisions, np.tile([1 / 3, 1 / 3, 1 / 3, 0.0],
                                                  (len(decisions), 1)))
    holdings = torch.tensor([[0.2, 0.3, 0.1, 0.4]], dtype=torch.float64)
    assert base_tensor(sim, "holdings") is None and base_tensor(sim, None) is None
    assert base_weights("holdings", None, torch.tensor([5]), holdings) is holdings
    assert base_weights(None, None, torch.tensor([5]), holdings) is None
    table = base_tensor(sim, "equal_weight")
    torch.testing.assert_close(base_weights("equal_weight", table, torch.tensor([30]), holdings),
                               table[[30]])
    with pytest.raises(ValueError, match="holdings"):
        base_table(sim, "holdings")
