"""Agents against the known optimum of synthetic markets, determinism, resumption and
each of the paper's extensions. Budgets are CI-sized: seconds per agent."""

import io
import pickle

import pytest
import torch

from fin_hgrpo.algos import GRPO, PPO, Agent, HybridGRPO, agent_config, make_agent
from fin_hgrpo.algos.core import cpp_compiler
from fin_hgrpo.algos.evaluation import allocation_path, skill
from fin_hgrpo.algos.rollout import Targets
from fin_hgrpo.envs import EnvSpec, PortfolioSim
from fin_hgrpo.errors import FinHgrpoError

FEATURES = [{"name": "log_return"}, {"name": "momentum", "window": 10}]


def _market(kind: str, n_days: int = 2520):
    data = {"source": f"synthetic:{kind}", "n_assets": 3, "n_days": n_days, "seed": 1}
    features = list(FEATURES)
    if kind == "iid":  # an optimum that seven years of data can pin down
        data.update(annual_drift=[0.4, 0.05, -0.1], annual_vol=[0.15, 0.15, 0.15])
    else:
        features.append({"name": "signal"})
    spec = EnvSpec.model_validate({"data": data, "features": features, "window": 5})
    market = spec.load_market()
    split = market.panel.dates[int(len(market.panel) * 0.7)]
    train = spec.build_sim(market.panel.slice(None, split), dtype=torch.float32)
    return market, split, train, spec.build_sim(market.panel)


@pytest.fixture(scope="module")
def iid():
    return _market("iid")


@pytest.fixture(scope="module")
def short():
    """The i.i.d. market over two years: enough for what needs no learning."""
    return _market("iid", n_days=504)


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "states"),
                         [("ppo", 40_000), ("grpo", 20_000), ("hybrid_grpo", 20_000)])
def test_every_algorithm_learns_the_iid_market(iid, algorithm, states):
    """Skill on held-out days, between 1/N (0) and the oracle (1). PPO's one-path
    advantages carry the market's noise, which group scoring at one state cancels: it
    needs about twice the states to learn as clearly."""
    market, split, train, full = iid
    agent = make_agent(train, agent_config({"algorithm": algorithm}))
    agent.learn(states)
    assert skill(agent, market, full, split) > 0.05


@pytest.mark.slow
def test_hybrid_grpo_learns_the_predictable_signal():
    market, split, train, full = _market("signal")
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo"}))
    agent.learn(30_000)
    assert skill(agent, market, full, split) > 0.1


def _params(agent):
    return torch.cat([p.detach().reshape(-1) for p in agent.policy.parameters()])


def test_same_seed_same_agent_and_another_seed_another(iid):
    _, _, train, _ = iid
    runs = [HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", "seed": s})).learn(512)
            for s in (3, 3, 4)]
    assert torch.equal(_params(runs[0]), _params(runs[1]))
    assert not torch.equal(_params(runs[0]), _params(runs[2]))


@pytest.mark.parametrize("algorithm", ["ppo", "grpo", "hybrid_grpo"])
def test_a_killed_run_resumes_exactly(iid, algorithm):
    _, _, train, _ = iid
    config = agent_config({"algorithm": algorithm, "seed": 5})
    whole = make_agent(train, config).learn(4 * 256)
    halted = make_agent(train, config).learn(4 * 256, callback=lambda a, m: a.iteration < 2)
    buffer = io.BytesIO()
    halted.save(buffer, training_state=True)
    buffer.seek(0)
    resumed = Agent.load(buffer, train)
    assert type(resumed) is type(halted)
    resumed.learn(4 * 256)
    assert resumed.iteration == whole.iteration == 4
    assert torch.equal(_params(resumed), _params(whole))


needs_compiler = pytest.mark.skipif(cpp_compiler() is None,
                                    reason="torch.compile on CPU needs a C++ compiler")


@pytest.mark.slow  # compiling takes tens of seconds
@needs_compiler
def test_compiled_updates_match_eager_ones_and_repeat_exactly(iid):
    """Fused kernels round differently, so after one update the networks agree closely,
    not bit for bit; two compiled runs with one seed agree exactly."""
    _, _, train, _ = iid

    def trained(compile):
        config = agent_config({"algorithm": "hybrid_grpo", "seed": 6, "compile": compile})
        return HybridGRPO(train, config).learn(256)

    eager, compiled, again = trained(False), trained(True), trained(True)
    assert torch.allclose(_params(compiled), _params(eager), atol=1e-4)
    assert not torch.equal(_params(compiled), _params(HybridGRPO(
        train, agent_config({"algorithm": "hybrid_grpo", "seed": 6}))))  # it did train
    assert torch.equal(_params(compiled), _params(again))


@pytest.mark.slow  # compiling takes tens of seconds
@needs_compiler
def test_a_compiled_agent_pickles(iid):
    _, _, train, _ = iid
    agent = PPO(train, agent_config({"algorithm": "ppo", "compile": True}))
    copy = pickle.loads(pickle.dumps(agent))
    day, holdings = torch.tensor([100]), torch.full((1, 4), 0.25)
    assert torch.equal(copy.act(day, holdings), agent.act(day, holdings))


def test_compile_without_a_compiler_says_so(iid, monkeypatch):
    _, _, train, _ = iid
    monkeypatch.setenv("CXX", "no-such-compiler++")
    with pytest.raises(FinHgrpoError, match="no-such-compiler"):
        PPO(train, agent_config({"algorithm": "ppo", "compile": True}))


def test_a_diverging_update_stops_with_a_clear_error_before_it_is_applied(iid, monkeypatch):
    _, _, train, _ = iid
    agent = GRPO(train, agent_config({"algorithm": "grpo"}))
    before = _params(agent)
    targets = agent.targets
    monkeypatch.setattr(agent, "targets",
                        lambda rollout: Targets(targets(rollout).advantages * float("inf")))
    with pytest.raises(FinHgrpoError, match=r"GRPO \(seed 0\) diverged in iteration 1: non-finite"):
        agent.train_iteration()
    assert torch.equal(_params(agent), before)


def test_value_based_selection_executes_the_best_scored_sample(iid):
    _, _, train, _ = iid
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", "selection": "value"}))
    rollout = agent.collect()
    q = agent.sample_values(rollout.rewards, rollout.alive, rollout.final_t,
                            rollout.final_holdings)
    assert torch.equal(rollout.executed, q.argmax(-1))


def test_multi_step_scoring_follows_each_sample_and_stops_at_the_data_end(iid):
    _, _, train, _ = iid
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", "sub_steps": 3}))
    agent.episodes.t[:] = train.last_decision - 1  # two decision days left
    rollout = agent.collect()
    first = rollout.alive[0]
    assert first.shape[-1] == 3
    assert first[..., :2].all() and not first[..., 2].any()
    assert (rollout.final_t[0] == train.last_decision + 1).all()
    assert (rollout.rewards[0][..., 2] == 0).all()
    grpo = GRPO(train, agent_config({"algorithm": "grpo", "sub_steps": 3}))
    grpo.learn(256)  # multi-step group scoring trains


def test_continuations_stop_at_the_end_of_a_training_segment(iid):
    """Trained on two stretches of days, a sample scored two days before the first
    stretch's end is followed up to it and no further, never into the gap."""
    _, _, train, _ = iid
    sim = PortfolioSim(train.panel, features=FEATURES, window=5, dtype=torch.float32,
                       segments=[(0, 400), (600, len(train.panel) - 1)])
    agent = HybridGRPO(sim, agent_config({"algorithm": "hybrid_grpo", "sub_steps": 3}))
    end = sim.decision_ranges[0][1]
    agent.episodes.t[:] = end - 1
    rollout = agent.collect()
    first = rollout.alive[0]
    assert first[..., :2].all() and not first[..., 2].any()
    assert (rollout.final_t[0] == end + 1).all()
    assert (rollout.t[1] >= sim.decision_ranges[0][0]).all()
    assert not ((rollout.t > end) & (rollout.t < sim.decision_ranges[1][0])).any()


def test_continuations_share_their_noise_across_a_states_candidates(short):
    """The diagnosis' bug 2: each candidate's continuation drew its own noise, variance
    that says nothing about the candidate. Common random numbers: one draw a state."""
    _, _, train, _ = short
    tilt = {"algorithm": "hybrid_grpo", "distribution": "tilt", "base": "equal_weight",
            "sub_steps": 2, "tilt_scale": 0.1}
    agent = HybridGRPO(train, agent_config(tilt))
    t = torch.tensor([100, 100, 100, 200, 200, 200])
    holdings = torch.rand(6, 4)
    holdings /= holdings.sum(-1, keepdim=True)
    dist = agent.policy(train.observe(t), holdings)
    normal = dist.base_dist
    noise = (agent.continue_with(dist, groups=3) - normal.loc) / normal.scale
    torch.testing.assert_close(noise[:3], noise[:1].expand(3, -1))
    torch.testing.assert_close(noise[3:], noise[3:4].expand(3, -1))
    assert not torch.allclose(noise[0], noise[3])
    mean = HybridGRPO(train, agent_config({**tilt, "continuation": "mean"}))
    torch.testing.assert_close(mean.continue_with(dist, groups=3), normal.loc)
    with pytest.raises(Exception, match="needs distribution"):
        agent_config({"algorithm": "hybrid_grpo", "continuation": "common"})
    assert agent_config({"algorithm": "hybrid_grpo"}).continues_with == "sample"  # Dirichlet


def test_the_bootstrap_is_discounted_by_the_steps_actually_scored(iid):
    """The diagnosis' bug 3: when the data ends inside the k scored steps, the value
    after them is gamma to the number of steps taken, not gamma to the k asked for."""
    _, _, train, _ = iid
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", "sub_steps": 3,
                                            "n_steps": 1}))
    agent.episodes.t[:] = train.last_decision - 1  # two decision days left
    rollout = agent.collect()
    assert (rollout.alive.sum(-1) == 2).all()
    q = agent.sample_values(rollout.rewards, rollout.alive, rollout.final_t,
                            rollout.final_holdings)
    gamma = agent.config.gamma
    rewards = agent.transform(rollout.rewards)
    expected = rewards[..., 0] + gamma * rewards[..., 1] + gamma**2 * agent.values_at(
        rollout.final_t, rollout.final_holdings)
    torch.testing.assert_close(q, expected)


def test_the_critic_bootstraps_where_the_data_ends(iid):
    """The review's M1: the end of the data is a truncation (an investor goes on), so
    the value target there is r + gamma V(s'), not r."""
    _, _, train, _ = iid
    for algorithm in ("ppo", "hybrid_grpo"):
        agent = make_agent(train, agent_config({"algorithm": algorithm, "n_steps": 1}))
        agent.episodes.t[:] = train.last_decision  # one decision day left
        rollout = agent.collect()
        assert rollout.ended.all() and not rollout.terminated.any()
        targets = agent.targets(rollout)
        final = agent.values_at(rollout.final_t, rollout.final_holdings[:, :, 0])
        assert final.abs().min() > 0
        rewards = agent.transformed(rollout.rewards[..., 0, 0])
        if algorithm == "ppo":
            expected = rewards + agent.config.gamma * final
        else:
            expected = agent.sample_values(rollout.rewards, rollout.alive, rollout.final_t,
                                           rollout.final_holdings).mean(-1)
            assert not torch.allclose(expected, agent.transform(rollout.rewards).mean(-1)[..., 0])
        assert torch.allclose(targets.returns, expected, atol=1e-6)


def test_entropy_target_tunes_the_entropy_coefficient(iid):
    _, _, train, _ = iid
    config = agent_config({"algorithm": "hybrid_grpo", "entropy_target": 10.0})
    agent = HybridGRPO(train, config).learn(3 * 256)
    # the Dirichlet's entropy is far below 10, so the coefficient must have grown
    assert agent.history[-1]["entropy_coef"] > agent.history[0]["entropy_coef"] > 0.001


@pytest.mark.parametrize("anneal", [True, False])
def test_learning_rate_anneals_to_zero_or_stays_constant(iid, anneal):
    _, _, train, _ = iid
    config = agent_config({"algorithm": "ppo", "anneal_lr": anneal, "learning_rate": 1e-3})
    rates = [row["lr"] for row in PPO(train, config).learn(4 * 256).history]
    assert rates == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3] if anneal else [1e-3] * 4)


def test_weight_decay_shrinks_the_weight_matrices_and_spares_the_biases(iid):
    _, _, train, _ = iid

    def trained(decay):
        config = agent_config({"algorithm": "hybrid_grpo", "weight_decay": decay, "seed": 2})
        return HybridGRPO(train, config).learn(4 * 256).policy

    plain, decayed = trained(0.0), trained(30.0)
    for (name, p), q in zip(plain.named_parameters(), decayed.parameters(), strict=True):
        if p.dim() > 1 and p.abs().sum() > 0:
            assert q.norm() < 0.95 * p.norm(), name
    # the head's bias is never decayed: with the matrices near zero it carries the policy
    assert decayed.head.bias.abs().mean() > 0.9


@pytest.mark.parametrize("options", [
    {"advantage": "paper"}, {"advantage": "group_baseline"}, {"alpha": 0.5},
    {"reward_transform": "tanh"}, {"reward_norm": "ema"}, {"reward_norm_scope": "group"},
    {"distribution": "logistic_normal", "encoder": "conv"},
    {"distribution": "tilt", "base": "inverse_volatility", "trade_rate": 0.5},
    {"advantage": "group_standardized", "distribution": "tilt", "base": "equal_weight",
     "encoder": "shared", "advance": "mean", "holdings_decay": False, "weight_decay": 3.0},
    {"distribution": "logistic_normal", "encoder": "shared", "sub_steps": 2},
])
def test_every_variant_trains_and_allocates_on_the_simplex(short, options):
    market, split, train, full = short
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", **options}))
    agent.learn(512)
    weights = allocation_path(agent, full, split)
    assert (weights.to_numpy() >= 0).all()
    assert weights.sum(axis=1).sub(1).abs().max() < 1e-5
    assert len(agent.history) == 2 and "explained_variance" in agent.history[-1]


def test_the_episodes_advance_along_the_deterministic_target_when_asked(short):
    """Training holds what the test holds: the samples are scored around the policy's
    own target, which the episodes then move on with."""
    _, _, train, _ = short
    agent = HybridGRPO(train, agent_config({"algorithm": "hybrid_grpo", "advance": "mean",
                                            "distribution": "tilt", "base": "equal_weight",
                                            "tilt_scale": 0.1, "n_steps": 1}))
    t, holdings = agent.episodes.t.clone(), agent.episodes.holdings.clone()
    target = agent.act(t, holdings)
    drifted = train.score(t, holdings, target[:, None]).holdings[:, 0]
    agent.collect()
    torch.testing.assert_close(agent.episodes.holdings, drifted)


def test_a_shared_encoder_reads_any_number_of_assets_with_the_same_parameters():
    from fin_hgrpo.algos.policies import Policy, ValueNet

    shapes = {}
    for assets in (3, 7):
        policy = Policy(5, assets, 2, hidden=8, encoder="shared", distribution="tilt")
        value = ValueNet(5, assets, 2, hidden=8, encoder="shared")
        shapes[assets] = {k: v.shape for k, v in [*policy.state_dict().items(),
                                                   *value.state_dict().items()]}
        features = torch.randn(4, 5, assets, 2)
        holdings = torch.full((4, assets + 1), 1.0 / (assets + 1))
        dist = policy(features, holdings)
        assert dist.mean.shape == (4, assets + 1) and (dist.mean == 0).all()  # at its base
        grouped = holdings[:, None].expand(4, 3, assets + 1)
        torch.testing.assert_close(value(features, grouped),
                                   value(features, holdings)[:, None].expand(4, 3))
    assert shapes[3] == shapes[7]
    with pytest.raises(ValueError, match="encoder must be"):
        Policy(5, 3, 2, encoder="attention")


def test_the_holdings_input_may_be_spared_the_weight_decay(short):
    _, _, train, _ = short
    spared = make_agent(train, agent_config({"algorithm": "hybrid_grpo", "weight_decay": 3.0,
                                             "holdings_decay": False}))
    decayed = {id(p) for p in spared.optimizer.param_groups[0]["params"]}
    assert id(spared.policy.encoder.holdings_in.weight) not in decayed
    assert id(spared.policy.encoder.features_in.weight) in decayed


def test_configs_refuse_what_does_not_apply():
    with pytest.raises(Exception, match="group_size"):
        agent_config({"algorithm": "ppo", "group_size": 8})
    with pytest.raises(Exception, match="reward_norm_scope"):
        agent_config({"algorithm": "ppo", "reward_norm_scope": "group"})
    with pytest.raises(Exception, match="advance"):
        agent_config({"algorithm": "ppo", "advance": "mean"})
    with pytest.raises(Exception, match="kl_coef"):
        agent_config({"algorithm": "hybrid_grpo", "kl_coef": 0.1})
    with pytest.raises(Exception, match="algorithm"):
        agent_config({"algorithm": "a2c"})
    with pytest.raises(TypeError, match="PPOConfig"):
        PPO(_market("iid")[2], agent_config({"algorithm": "grpo"}))


@pytest.mark.parametrize("algorithm", ["ppo", "grpo", "hybrid_grpo"])
@pytest.mark.parametrize("base", ["equal_weight", "inverse_volatility", "min_variance"])
def test_a_residual_policy_starts_exactly_at_its_base(short, algorithm, base):
    _, _, train, _ = short
    agent = make_agent(train, agent_config({"algorithm": algorithm, "distribution": "tilt",
                                            "base": base}))
    t = torch.tensor([train.first_decision, 300, train.last_decision])
    holdings = torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.5, 0.2, 0.1, 0.2],
                             [0.1, 0.1, 0.1, 0.7]])
    torch.testing.assert_close(agent.act(t, holdings), agent.base(t, holdings), atol=0, rtol=0)
    with pytest.raises(ValueError, match=f"tilts the {base} portfolio"):
        agent.predict(train.observe(t), holdings)


@pytest.mark.slow
def test_a_residual_policy_on_its_holdings_can_hold_still_and_learns_to_move(iid):
    market, split, train, full = iid
    config = {"algorithm": "hybrid_grpo", "distribution": "tilt", "base": "holdings"}
    agent = make_agent(train, agent_config(config))
    holdings = torch.tensor([[0.5, 0.2, 0.1, 0.2]])
    torch.testing.assert_close(agent.act(torch.tensor([300]), holdings), holdings,
                               atol=0, rtol=0)
    weights = allocation_path(agent, full, split)
    assert (weights["cash"] == 1.0).all()  # untrained: stays where it starts
    agent.learn(10_000)
    # the first asset's drift is 0.4 a year: trained, it moves there from cash
    assert allocation_path(agent, full, split).iloc[-1, 0] > 0.3


def test_a_trade_rate_moves_part_of_the_way_to_the_target(iid):
    _, _, train, _ = iid
    config = {"algorithm": "ppo", "distribution": "tilt", "base": "equal_weight"}
    full_way = make_agent(train, agent_config(config))
    part_way = make_agent(train, agent_config({**config, "trade_rate": 0.25}))
    t, cash = torch.tensor([300]), torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    target = full_way.act(t, cash)
    torch.testing.assert_close(part_way.act(t, cash), cash + 0.25 * (target - cash))


def test_a_residual_policy_needs_its_base_and_a_base_needs_a_tilt():
    with pytest.raises(Exception, match="residual policy"):
        agent_config({"algorithm": "ppo", "distribution": "tilt"})
    with pytest.raises(Exception, match="residual policy"):
        agent_config({"algorithm": "ppo", "base": "equal_weight"})
    with pytest.raises(Exception, match="trade_rate"):
        agent_config({"algorithm": "ppo", "trade_rate": 0.0})
