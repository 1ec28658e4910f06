"""Populations: K agents updated by one batched step agree with each trained alone."""

import pytest
import torch

from fin_hgrpo.algos import Population, agent_config, make_agent
from fin_hgrpo.algos.core import cpp_compiler
from fin_hgrpo.algos.rollout import Targets
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import FinHgrpoError

# members differ in seed, learning rate, weight decay and entropy coefficient
MEMBERS = [{"seed": 0}, {"seed": 1, "learning_rate": 3e-3},
           {"seed": 2, "weight_decay": 0.5, "entropy_coef": 0.01}]
SMALL = {"n_envs": 8, "n_steps": 4, "hidden": 16, "epochs": 2, "minibatches": 2}


def _sims(n: int):
    """n training windows of one synthetic market (a member per fold)."""
    spec = EnvSpec.model_validate({
        "data": {"source": "synthetic:iid", "n_assets": 3, "n_days": 600, "seed": 1},
        "features": [{"name": "log_return"}, {"name": "momentum", "window": 10}],
        "window": 5})
    panel = spec.load_panel()
    return [spec.build_sim(panel.slice(panel.dates[50 * i], panel.dates[300 + 50 * i]),
                           dtype=torch.float32) for i in range(n)]


def _agents(algorithm: str, extra: dict | None = None):
    sims = _sims(len(MEMBERS))
    return [make_agent(sim, agent_config({"algorithm": algorithm, **SMALL, **member,
                                          **(extra or {})}))
            for sim, member in zip(sims, MEMBERS, strict=True)]


def _params(agent) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(agent.trained_parameters).detach()


RESIDUAL = {"distribution": "tilt", "base": "inverse_volatility", "trade_rate": 0.5}


@pytest.mark.parametrize(("algorithm", "extra"), [("ppo", None), ("grpo", None),
                                                  ("hybrid_grpo", None),
                                                  ("hybrid_grpo", RESIDUAL)])
def test_a_member_agrees_with_the_same_agent_trained_alone(algorithm, extra):
    alone, together = _agents(algorithm, extra), _agents(algorithm, extra)
    for agent in alone:
        agent.learn(1)
    Population(together).learn(1)
    for single, member in zip(alone, together, strict=True):
        assert member.iteration == 1
        assert torch.allclose(_params(member), _params(single), atol=1e-4, rtol=0)
        assert member.history[0]["policy_loss"] == pytest.approx(
            single.history[0]["policy_loss"], abs=1e-4)
    assert not torch.equal(_params(together[0]), _params(together[1]))


def test_members_keep_agreeing_over_a_few_updates_with_annealing_and_entropy_tuning():
    extra = {"entropy_target": -2.0, "target_kl": 0.02}
    alone, together = _agents("hybrid_grpo", extra), _agents("hybrid_grpo", extra)
    budget = 3 * alone[0].config.states_per_iteration
    for agent in alone:
        agent.learn(budget)
    Population(together).learn(budget)
    for single, member in zip(alone, together, strict=True):
        assert torch.allclose(_params(member), _params(single), atol=1e-3, rtol=0)
        assert float(member.log_entropy_coef.detach()) == pytest.approx(
            float(single.log_entropy_coef.detach()),
                                                               abs=1e-5)
        assert member.optimizer.param_groups[0]["lr"] == pytest.approx(
            single.optimizer.param_groups[0]["lr"])


def test_a_member_resumes_alone_from_its_population_state():
    """A member's state_dict holds its own optimiser state: training it on alone is
    training on in the population."""
    together, again = _agents("ppo"), _agents("ppo")
    population = Population(together)
    population.learn(2 * together[0].config.states_per_iteration)
    resumed = _agents("ppo")[1]
    Population(again).learn(together[0].config.states_per_iteration)
    resumed.load_state_dict(again[1].state_dict())
    resumed.learn(2 * resumed.config.states_per_iteration)
    assert torch.allclose(_params(resumed), _params(together[1]), atol=1e-4, rtol=0)


def test_a_population_rebuilt_from_its_members_goes_on_as_before():
    """Members carry their optimiser states out of a population and into the next one
    (a warm-started fold, a resumed run): a population built again after an iteration
    continues as the first one does."""
    kept, rebuilt = _agents("hybrid_grpo", RESIDUAL), _agents("hybrid_grpo", RESIDUAL)
    per_iteration = kept[0].config.states_per_iteration
    Population(kept).learn(2 * per_iteration)
    Population(rebuilt).learn(per_iteration)
    Population(rebuilt).learn(2 * per_iteration)
    for first, second in zip(kept, rebuilt, strict=True):
        assert torch.allclose(_params(first), _params(second), atol=1e-6, rtol=0)
        matrix = first.policy.encoder.features_in.weight
        twin = second.policy.encoder.features_in.weight
        assert torch.allclose(first.optimizer.state[matrix]["exp_avg_sq"],
                              second.optimizer.state[twin]["exp_avg_sq"], atol=1e-9, rtol=0)


def test_a_diverging_member_fails_alone_and_the_others_go_on():
    alone, together = _agents("grpo"), _agents("grpo")
    broken = together[1]
    targets = broken.targets
    broken.targets = lambda rollout: Targets(targets(rollout).advantages * float("inf"))
    before = _params(broken)
    population = Population(together)
    population.learn(2 * broken.config.states_per_iteration)
    assert isinstance(population.errors[1], FinHgrpoError)
    assert "(seed 1) diverged in iteration 1" in str(population.errors[1])
    assert torch.equal(_params(broken), before)
    assert population.errors[0] is None and population.errors[2] is None
    for k in (0, 2):
        alone[k].learn(2 * alone[k].config.states_per_iteration)
        assert torch.allclose(_params(together[k]), _params(alone[k]), atol=1e-4, rtol=0)


def test_a_callback_stops_its_member_only():
    together = _agents("ppo")
    population = Population(together)
    seen = []

    def stop_first_after_two(metrics):
        seen.append(sorted(metrics))
        return [0] if together[0].iteration == 2 else None

    population.learn(4 * together[0].config.states_per_iteration, callback=stop_first_after_two)
    assert seen == [[0, 1, 2], [0, 1, 2], [1, 2], [1, 2]]
    assert [agent.iteration for agent in together] == [2, 4, 4]


@pytest.mark.parametrize(("field", "value"), [("hidden", 8), ("gamma", 0.9)])
def test_members_may_differ_only_in_seed_learning_rate_weight_decay_and_entropy(field, value):
    agents = _agents("ppo")
    agents[2] = make_agent(agents[2].sim, agents[2].config.model_copy(update={field: value}))
    with pytest.raises(ValueError, match=f"member 2 differs from member 0 in {field}"):
        Population(agents)


def test_members_must_be_of_one_algorithm():
    ppo, grpo = _agents("ppo")[0], _agents("grpo")[1]
    with pytest.raises(ValueError, match="one algorithm"):
        Population([ppo, grpo])


def test_a_population_of_one_is_its_agent_bit_for_bit():
    alone, together = _agents("hybrid_grpo")[:1], _agents("hybrid_grpo")[:1]
    budget = 3 * alone[0].config.states_per_iteration
    alone[0].learn(budget)
    Population(together).learn(budget)
    assert torch.equal(_params(together[0]), _params(alone[0]))


@pytest.mark.slow
@pytest.mark.skipif(cpp_compiler() is None, reason="torch.compile needs a C++ compiler on CPU")
def test_a_compiled_population_agrees_with_an_eager_one_after_one_update():
    eager, compiled = _agents("ppo"), _agents("ppo", {"compile": True})
    Population(eager).learn(1)
    Population(compiled).learn(1)
    for a, b in zip(eager, compiled, strict=True):
        assert torch.allclose(_params(a), _params(b), atol=1e-4, rtol=0)
