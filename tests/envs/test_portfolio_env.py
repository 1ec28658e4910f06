import importlib.util
import warnings

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from fin_hgrpo.envs import ENV_ID, EnvSpec, Episodes, PortfolioEnv, PortfolioVecEnv, Reward
from tests.envs.conftest import tiny_sim

HAS_SB3 = importlib.util.find_spec("stable_baselines3") is not None


def _episode(env: PortfolioEnv, seed: int, **reset):
    obs, info = env.reset(seed=seed, **reset)
    rng = np.random.default_rng(seed)
    rewards, infos = [], []
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(
            rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        rewards.append(reward)
        infos.append(info)
        done = terminated or truncated
    return rewards, infos, terminated, truncated


def test_wealth_is_the_product_of_net_returns_and_log_rewards_sum_to_log_wealth():
    env = PortfolioEnv.from_spec("envs/synthetic_iid.toml", horizon=100)
    rewards, infos, _, truncated = _episode(env, seed=3)
    assert truncated and len(rewards) == 100
    nets = np.expm1([i["log_return"] for i in infos])
    assert infos[-1]["wealth"] == pytest.approx(np.prod(1 + nets), rel=1e-12)
    assert sum(rewards) == pytest.approx(np.log(infos[-1]["wealth"]), rel=1e-12)
    for info in infos:
        assert info["weights"].sum() == pytest.approx(1.0)
        assert {"turnover", "cost", "date", "holdings"} <= set(info)


def test_episode_ends_with_the_data_and_never_reads_past_it():
    env = PortfolioEnv(tiny_sim(), horizon=100, random_start=False)
    rewards, infos, terminated, truncated = _episode(env, seed=0)
    assert truncated and not terminated  # an investor would go on: a truncation
    assert len(rewards) == 3  # decisions on days 1, 2, 3; day 4 is the last close
    assert infos[-1]["date"] == env.sim.dates[-1]


def test_reset_with_a_seed_is_reproducible_and_a_start_date_is_honoured():
    env = PortfolioEnv.from_spec("envs/default.toml")
    first = [env.reset(seed=7)[0] for _ in range(2)]
    np.testing.assert_array_equal(*first)
    a, _, _, _ = _episode(env, seed=11)
    b, _, _, _ = _episode(env, seed=11)
    assert a == b
    _, info = env.reset(options={"start": "2020-03-02"})
    assert str(info["date"])[:10] == "2020-03-02"


@pytest.mark.parametrize("spec", ["envs/default.toml", "envs/synthetic_regime.toml"])
@pytest.mark.parametrize("observation", ["flat", "dict"])
def test_gymnasium_env_checker_passes_without_warnings(spec, observation):
    env = gym.make(ENV_ID, path=spec, observation=observation)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


@pytest.mark.skipif(not HAS_SB3, reason="needs the sb3 extra")
def test_stable_baselines3_checks_and_trains_on_it():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = PortfolioEnv.from_spec("envs/synthetic_signal.toml", horizon=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(action)


def test_vector_env_matches_single_envs_and_restarts_finished_episodes():
    sim = tiny_sim()
    vec = PortfolioVecEnv(sim, 3, horizon=2, random_start=False)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, *vec.single_observation_space.shape)
    actions = np.array([[1, -1, 0], [0, 0, 0], [-1, 1, 1]], dtype=np.float32)
    _, rewards, _, _, info = vec.step(actions)
    single = PortfolioEnv(sim, horizon=2, random_start=False)
    for row, action in enumerate(actions):
        single.reset(seed=0)
        _, reward, _, _, single_info = single.step(action)
        assert rewards[row] == pytest.approx(reward, rel=1e-12)
        assert info["wealth"][row] == pytest.approx(single_info["wealth"], rel=1e-12)
    _, _, terminated, truncated, info = vec.step(actions)
    assert truncated.all() and info["_final_obs"].all()
    assert (vec.episodes.steps == 0).all() and (vec.episodes.wealth == 1).all()


def test_episodes_batch_is_what_the_trainer_steps():
    sim = tiny_sim(dtype=torch.float32)
    episodes = Episodes(sim, Reward(), 4, horizon=10, random_start=True)
    episodes.reset(np.random.default_rng(0))
    features, holdings = episodes.observe()
    assert features.shape == (4, 1, 2, 1) and holdings.shape == (4, 3)
    step = episodes.step(torch.full((4, 3), 1 / 3))
    assert step.reward.shape == (4,) and step.reward.dtype == torch.float32


def test_spec_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[costs]\nbps = "ten"\n')
    with pytest.raises(Exception, match=r"bad.toml: key costs.bps"):
        EnvSpec.load(bad)
    bad.write_text('[reward]\nkind = "sortino"\n')
    with pytest.raises(Exception, match=r"bad.toml: key reward.kind: Input should be"):
        EnvSpec.load(bad)
    bad.write_text('[episode]\nhorizn = 5\n')
    with pytest.raises(Exception, match=r"bad.toml: key episode.horizn: Extra inputs"):
        EnvSpec.load(bad)
    with pytest.raises(Exception, match=r"nope.toml: spec file not found"):
        EnvSpec.load(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", ["default", "synthetic_iid", "synthetic_regime",
                                  "synthetic_signal"])
def test_shipped_specs_load(name):
    spec = EnvSpec.load(f"envs/{name}.toml")
    sim = spec.build_sim()
    assert sim.last_decision - sim.first_decision > 1000


def test_an_env_never_holds_prices_after_its_end_date():
    spec = EnvSpec.model_validate({"data": {"source": "sample", "tickers": ["AAPL", "XOM"],
                                            "start": "2010-01-04", "end": "2015-06-30"}})
    env = PortfolioEnv.from_spec(spec, random_start=False, horizon=10_000)
    assert env.sim.dates[-1] <= np.datetime64("2015-06-30")
    _, infos, _, truncated = _episode(env, seed=0)
    assert truncated and str(infos[-1]["date"])[:10] == "2015-06-30"


def test_tickers_narrow_a_synthetic_source_and_its_known_optimum_is_refused_then():
    """Issue 34: DataSpec.tickers narrows every source, a synthetic one included; its
    ground truth is over all its assets, so asking for it with fewer is refused by key."""
    from fin_hgrpo.errors import SpecError

    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 4,
                                            "n_days": 300, "tickers": ["S1", "S3"]}})
    assert spec.load_panel().tickers == ("S1", "S3")
    assert spec.build_sim().n_assets == 2
    with pytest.raises(SpecError, match="data.tickers"):
        spec.load_market()


@pytest.mark.parametrize(("costs", "message"), [
    ("cash_rate = 5", r"key costs.cash_rate: .*per day, not a year's or a percentage"),
    ("cash_rate = 0.05", "key costs.cash_rate"),
    ("cash_rate = -1.5", "key costs.cash_rate"),
    ("bps = 20000", r"key costs.bps: .*20000.0 bps is outside 0 \.\. 1000"),
    ("bps = -10", r"key costs.bps: .*-10.0 bps"),
    ("bps = [1, -2]", "key costs.bps"),
    ('spread = "roll"', "key costs.spread"),
    ("spread_days = 1", "key costs.spread_days"),
])
def test_economics_that_cannot_be_meant_are_refused_naming_the_key(costs, message, tmp_path):
    from fin_hgrpo.errors import SpecError

    bad = tmp_path / "env.toml"
    bad.write_text(f"[costs]\n{costs}\n")
    with pytest.raises(SpecError, match=message):
        EnvSpec.load(bad)


def test_a_dated_cash_rate_is_read_with_the_panel_and_listed_among_the_specs_files(tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("date,rate\n2000-01-03,3.65\n")
    spec = EnvSpec.model_validate({"data": {"source": "synthetic:iid", "n_assets": 3,
                                            "n_days": 300}, "costs": {"cash_rate": str(rates)}})
    assert str(rates) in spec.files()
    sim = spec.build_sim()
    days = np.diff(sim.dates.to_numpy()).astype("timedelta64[D]").astype(float)
    np.testing.assert_allclose(sim.relatives[:, -1].numpy() - 1, 0.0365 * days / 365,
                               rtol=1e-12)


def test_an_estimated_spread_needs_bars_the_sample_does_not_have():
    from fin_hgrpo.errors import DataError

    spec = EnvSpec.model_validate({"data": {"source": "sample", "tickers": ["AAPL", "XOM"]},
                                   "costs": {"spread": "edge"}})
    with pytest.raises(DataError, match="an estimated spread needs open, high, low and "
                                        "close; this panel has no open, high, low"):
        spec.build_sim()
    assert spec.long_only().costs.spread is None  # a reference is held at flat costs


def test_a_reference_is_held_from_its_second_day_whatever_the_features_look_back():
    """SPY lists in January 1993 and the main job's first test year starts that November:
    the agents' features need a year of its prices first, a reference needs none."""
    env = EnvSpec.load("envs/full_history.toml")
    spy = env.load_tickers(["SPY"]).slice("1990-11-15", "1994-11-17")
    test_start = pd.Timestamp("1993-11-18")
    agents, reference = env.build_sim(spy), env.for_reference().build_sim(spy)
    assert agents.dates[agents.first_decision] > test_start
    assert reference.dates[reference.first_decision] < test_start
    held = env.for_reference()
    assert held.constraints == env.long_only().constraints


def test_a_spec_of_random_bytes_is_refused_naming_the_file(tmp_path):
    from fin_hgrpo.errors import SpecError

    bad = tmp_path / "env.toml"
    bad.write_bytes(bytes(range(128, 256)))
    with pytest.raises(SpecError, match="env.toml: not valid TOML"):
        EnvSpec.load(bad)
