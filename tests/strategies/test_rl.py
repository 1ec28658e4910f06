import numpy as np
import pytest
import torch

from fin_hgrpo.algos import agent_config
from fin_hgrpo.algos.evaluation import allocation_path
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.strategies.rl import RLStrategy
from fin_hgrpo.walkforward.engine import run_strategy

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


def _fitted(keep: str, **options) -> RLStrategy:
    panel = SPEC.load_panel()
    config = agent_config({"algorithm": "ppo", "distribution": "tilt", "base": "equal_weight",
                           "tilt_scale": 0.1, **SMALL})
    strategy = RLStrategy(config, SPEC, steps=32 * 6, validation_days=40, validate_every=2,
                          keep=keep, **options)
    strategy.fit(panel.slice(None, panel.dates[299]))
    return strategy


def _flat(agent):
    import torch

    return torch.cat([p.detach().reshape(-1) for p in agent.policy.parameters()])


def test_a_fit_keeps_the_last_networks_or_their_moving_average():
    """keep = "last" ends where training ended; "ema" on the exponential moving average
    of the iterations' networks, without choosing by the validation days."""
    import torch

    from fin_hgrpo.algos import make_agent

    last, average = _fitted("last"), _fitted("ema", ema_halflife=2.0)
    assert last.training_log["validation_log_growth"].notna().sum() == 3  # still logged
    assert torch.equal(_flat(last.agent), _flat(_fitted("last").agent))  # deterministic
    assert not torch.allclose(_flat(average.agent), _flat(last.agent))
    # the average follows the iterations' networks: closer to the last than the start is
    start = _flat(make_agent(last.agent.sim, last.config))
    assert (_flat(average.agent) - _flat(last.agent)).norm() < \
        (start - _flat(last.agent)).norm()


def test_validation_may_start_invested_in_the_base():
    """An untrained tilt holds 1/N: validated from cash it pays 1/N's entry on the first
    day (10 bps on all of it), from its base it pays nothing; every later day agrees."""
    from fin_hgrpo.algos import make_agent
    from fin_hgrpo.strategies.rl import Validation

    panel = SPEC.load_panel().slice(None, SPEC.load_panel().dates[299])
    config = agent_config({"algorithm": "ppo", "distribution": "tilt", "base": "equal_weight",
                           **SMALL})
    agent = make_agent(SPEC.build_sim(panel, dtype=torch.float32), config)
    from_cash = Validation(SPEC, panel, 40, 0.0, "ppo").scores([agent])[0]
    invested = Validation(SPEC, panel, 40, 0.0, "ppo", start="base").scores([agent])[0]
    assert invested - from_cash == pytest.approx(-np.log(1 - 0.001), rel=1e-6)
