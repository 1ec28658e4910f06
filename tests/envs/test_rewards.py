import numpy as np
import pytest
import torch

from fin_hgrpo.envs import EnvSpec, Episodes, Reward


def _run(reward: Reward, returns: list[float]) -> list[float]:
    state = reward.initial_state(1)
    out = []
    for r in returns:
        net = torch.tensor([[r]], dtype=torch.float64)
        value, next_state = reward.apply(state, net, torch.log1p(net))
        state = next_state[:, 0]
        out.append(value.item())
    return out


def test_log_and_simple_returns():
    assert _run(Reward("log_return"), [0.1]) == [pytest.approx(np.log(1.1))]
    assert _run(Reward("simple_return"), [0.1]) == [pytest.approx(0.1)]


def test_differential_sharpe_by_hand():
    eta, r = 0.5, [0.02, -0.01]
    rewards = _run(Reward("differential_sharpe", eta=eta), r)
    a1, b1 = eta * r[0], eta * r[0] ** 2  # moments after the first step
    expected = (b1 * (r[1] - a1) - 0.5 * a1 * (r[1] ** 2 - b1)) / (b1 - a1**2) ** 1.5
    assert rewards[0] == 0.0
    assert rewards[1] == pytest.approx(expected, rel=1e-12)


def test_drawdown_penalty_charges_only_new_drawdown():
    rewards = _run(Reward("risk_adjusted", lam=2.0, penalty="drawdown"), [0.1, -0.1, 0.05])
    assert rewards[0] == pytest.approx(np.log(1.1))
    assert rewards[1] == pytest.approx(np.log(0.9) * 3)  # drawdown deepens by -log(0.9)
    assert rewards[2] == pytest.approx(np.log(1.05))  # recovering is not charged


def test_variance_penalty():
    rewards = _run(Reward("risk_adjusted", lam=10.0, eta=1.0, penalty="variance"), [0.1, 0.1])
    assert rewards[0] == pytest.approx(np.log(1.1) - 10.0 * np.log(1.1) ** 2)
    assert rewards[1] == pytest.approx(np.log(1.1))  # no deviation from the (eta=1) mean


def test_candidates_share_the_state_without_advancing_it():
    reward = Reward("differential_sharpe")
    state = torch.tensor([[0.001, 0.0002, 0.0, 0.0]], dtype=torch.float64)
    net = torch.tensor([[0.01, -0.02, 0.0]], dtype=torch.float64)
    values, states = reward.apply(state, net, torch.log1p(net))
    assert values.shape == (1, 3) and states.shape == (1, 3, 4)
    for i in range(3):
        alone, _ = reward.apply(state, net[:, i : i + 1], torch.log1p(net[:, i : i + 1]))
        assert alone.item() == values[0, i].item()


def test_unknown_reward():
    with pytest.raises(ValueError, match="reward must be one of"):
        Reward("sortino")


def test_warm_states_are_the_debiased_emas_of_equal_weights_up_to_each_close():
    reward = Reward("differential_sharpe", eta=0.5)
    # two assets and cash; equal-weighted returns +2% then -1%
    relatives = torch.tensor([[1.03, 1.01, 1.0], [0.98, 1.0, 1.0]], dtype=torch.float64)
    states = reward.warm_states(relatives)
    assert states.shape == (3, 4) and torch.all(states[0] == 0)
    torch.testing.assert_close(states[1, :2], torch.tensor([0.02, 0.0004], dtype=torch.float64))
    mass = 0.5 * 0.5 + 0.5  # the weights after two updates
    torch.testing.assert_close(states[2, :2], torch.tensor(
        [(0.25 * 0.02 + 0.5 * -0.01) / mass, (0.25 * 0.0004 + 0.5 * 0.0001) / mass],
        dtype=torch.float64))
    assert torch.all(Reward("log_return").warm_states(relatives) == 0)


def test_a_differential_sharpe_episode_starts_warm_and_its_first_rewards_are_tame():
    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_days": 400},
                                   "reward": {"kind": "differential_sharpe"}})
    sim = spec.build_sim()
    weights = torch.full((1, sim.n_weights), 1.0 / sim.n_assets, dtype=sim.dtype)
    weights[:, -1] = 0.0

    def first_rewards(warm: bool) -> np.ndarray:
        episodes = Episodes(sim, spec.build_reward(), 1, horizon=50, random_start=False)
        episodes.reset(np.random.default_rng(0), start=200)
        if warm:
            assert episodes.reward_state[0, 1] > episodes.reward_state[0, 0] ** 2
        else:
            episodes.reward_state.zero_()  # as every episode began before
        return np.array([float(episodes.step(weights).reward[0]) for _ in range(30)])

    warm, cold = first_rewards(True), first_rewards(False)
    # an ordinary day moves the Sharpe estimate by a deviation or two, not by ten
    assert np.abs(warm).max() < 3.0 < 8.0 < np.abs(cold).max()
    assert np.abs(warm).mean() < 0.5 * np.abs(cold).mean()


def test_a_relative_reward_scores_the_return_less_one_over_ns():
    reward = Reward("risk_adjusted", lam=10.0, eta=1.0, relative="equal_weight")
    state = reward.initial_state(1)
    net = torch.tensor([[0.03, -0.01]], dtype=torch.float64)
    benchmark = torch.tensor([np.log(1.01)], dtype=torch.float64)
    values, states = reward.apply(state, net, torch.log1p(net), benchmark)
    active = np.log1p(net.numpy()[0]) - np.log(1.01)
    np.testing.assert_allclose(values[0].numpy(), active - 10.0 * active**2)
    np.testing.assert_allclose(states[0, :, 2].numpy(), active)  # active log wealth
    with pytest.raises(ValueError, match="needs 1/N's log returns"):
        reward.apply(state, net, torch.log1p(net))
    with pytest.raises(ValueError, match="relative must be"):
        Reward(relative="spy")


def test_one_over_n_held_through_an_episode_earns_nothing_but_its_costs_relative_to_itself():
    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_days": 300},
                                   "reward": {"kind": "log_return",
                                              "relative": "equal_weight"},
                                   "costs": {"bps": 0.0}})
    sim = spec.build_sim()
    days = torch.arange(sim.first_decision, sim.first_decision + 50)  # all tradable
    by_hand = np.log(sim.relatives[days, :-1].numpy().mean(-1))
    np.testing.assert_allclose(sim.equal_weight_log_return(days).numpy(), by_hand)
    episodes = Episodes(sim, spec.build_reward(), 1, horizon=40, random_start=False)
    episodes.reset(np.random.default_rng(0), start=100)
    weights = torch.full((1, sim.n_weights), 1.0 / sim.n_assets, dtype=sim.dtype)
    weights[:, -1] = 0.0
    rewards = [float(episodes.step(weights).reward[0]) for _ in range(30)]
    np.testing.assert_allclose(rewards, 0.0, atol=1e-12)
