"""``device = "cuda"``: agents, populations and an agent strategy on a GPU. These run
where torch sees a CUDA device and are skipped elsewhere, so a machine with a GPU
checks the GPU path in one command: ``pytest tests/algos/test_cuda.py``."""

import numpy as np
import pytest
import torch

from fin_hgrpo.algos import Population, agent_config, make_agent
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.strategies.config import AgentStrategySpec, build_strategy
from fin_hgrpo.walkforward.engine import run_strategy

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")

SMALL = {"n_envs": 8, "n_steps": 4, "hidden": 16, "epochs": 2, "minibatches": 2}
ENV = {"data": {"source": "synthetic:iid", "n_assets": 3, "n_days": 600, "seed": 1},
       "features": [{"name": "log_return"}, {"name": "momentum", "window": 10}],
       "window": 5}


def _sims(n: int, device: str):
    spec = EnvSpec.model_validate(ENV)
    panel = spec.load_panel()
    return [spec.build_sim(panel.slice(panel.dates[50 * i], panel.dates[300 + 50 * i]),
                           dtype=torch.float32, device=device) for i in range(n)]


@pytest.mark.parametrize("algorithm", ["ppo", "grpo", "hybrid_grpo"])
def test_an_agent_trains_and_acts_on_the_gpu(algorithm):
    sim = _sims(1, "cuda")[0]
    agent = make_agent(sim, agent_config({"algorithm": algorithm, **SMALL,
                                          "device": "cuda"}))
    agent.learn(64)
    assert agent.iteration == 2
    assert all(p.is_cuda for p in agent.trained_parameters)
    day = torch.tensor([sim.first_decision], device="cuda")
    holdings = torch.zeros(1, sim.n_weights, device="cuda")
    holdings[:, -1] = 1.0
    weights = agent.predict(sim.observe(day), holdings)
    assert weights.is_cuda and torch.isclose(weights.sum(), torch.tensor(1.0, device="cuda"))
    assert (weights >= 0).all()


def test_a_population_on_the_gpu_agrees_with_its_members_trained_alone_there():
    def agents():
        return [make_agent(sim, agent_config({"algorithm": "hybrid_grpo", **SMALL,
                                              "seed": k, "device": "cuda"}))
                for k, sim in enumerate(_sims(3, "cuda"))]

    alone, together = agents(), agents()
    for agent in alone:
        agent.learn(1)
    Population(together).learn(1)
    for single, member in zip(alone, together, strict=True):
        a = torch.nn.utils.parameters_to_vector(single.trained_parameters)
        b = torch.nn.utils.parameters_to_vector(member.trained_parameters)
        assert torch.allclose(a, b, atol=1e-4, rtol=0)


def test_an_agent_strategy_trained_on_the_gpu_runs_in_the_cpu_engine(tmp_path):
    env = EnvSpec.model_validate(ENV)
    (tmp_path / "agent.toml").write_text(
        '[agent]\nalgorithm = "hybrid_grpo"\nhidden = 16\nn_envs = 8\nn_steps = 4\n'
        'epochs = 2\ndevice = "cuda"\n')
    spec = AgentStrategySpec(kind="agent", spec=str(tmp_path / "agent.toml"), steps=64)
    strategy = build_strategy(spec, env, seed=0)
    panel = env.load_panel()
    strategy.fit(panel.slice(None, panel.dates[399]))
    assert strategy.agent.device.type == "cuda"
    sim = env.build_sim(panel)  # the engine's float64 simulator, on the CPU
    run = run_strategy(strategy, sim, 400, 450)
    assert np.allclose(run.weights.sum(axis=1), 1.0)
    assert np.isfinite(run.daily["net_return"]).all()
