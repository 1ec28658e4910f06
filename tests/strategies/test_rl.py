import numpy as np
import pytest

from fin_hgrpo.algos import agent_config
from fin_hgrpo.algos.evaluation import allocation_path
from fin_hgrpo.backtest.engine import run_strategy
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.strategies.rl import RLStrategy

SPEC = EnvSpec.model_validate({
    "data": {"source": "synthetic:iid", "n_assets": 3, "n_days": 500, "seed": 2},
    "features": [{"name": "log_return"}, {"name": "volatility", "window": 10}],
    "window": 5,
})
SMALL = {"hidden": 16, "n_envs": 8, "n_steps": 4, "epochs": 2}


@pytest.mark.parametrize("base", ["inverse_volatility", "holdings"])
def test_a_residual_agent_tilts_the_same_base_in_a_backtest_as_in_training(base):
    """The base at a backtest's decision (the classical strategy asked on the Decision)
    is the base the agent trained with (the table over its simulator's days)."""
    panel = SPEC.load_panel()
    config = agent_config({"algorithm": "hybrid_grpo", "distribution": "tilt", "base": base,
                           "trade_rate": 0.5, **SMALL})
    strategy = RLStrategy(config, SPEC, steps=512)
    strategy.fit(panel.slice(None, panel.dates[299]))
    sim = SPEC.build_sim(panel)
    run = run_strategy(strategy, sim, 300, sim.last_decision)
    expected = allocation_path(strategy.agent, sim, sim.dates[300])
    np.testing.assert_allclose(run.weights.to_numpy(), expected.to_numpy(), atol=1e-6)
    assert run.daily["turnover"].sum() > 0
