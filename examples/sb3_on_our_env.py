"""stable-baselines3's PPO on this framework's gymnasium environment, judged where the
best allocation is known.

The synthetic signal market announces tomorrow's drifts in today's features, and knows
its growth-optimal allocation; skill is 0 for 1/N and 1 for that optimum. SB3 trains on
the first 70% of the days through ``PortfolioEnv`` (any gymnasium agent could), then
acts deterministically on the rest. Needs the ``sb3`` extra (``pip install
fin-hgrpo[sb3]``). Run it in a workspace::

    python examples/sb3_on_our_env.py                  # 30,000 states, a few minutes
    python examples/sb3_on_our_env.py --steps 2048     # a smoke run (what CI runs)
"""

from __future__ import annotations

import argparse

import pandas as pd
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

from fin_hgrpo.envs import EnvSpec, PortfolioEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000, help="environment steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spec = EnvSpec.load("envs/synthetic_signal.toml")
    market = spec.load_market()  # the panel and its ground truth
    split = market.panel.dates[int(len(market.panel) * 0.7)]
    train = PortfolioEnv(spec.build_sim(market.panel.slice(None, split)), spec.build_reward(),
                         horizon=spec.episode.horizon)
    check_env(train)  # SB3's own check of the gymnasium API
    model = PPO("MlpPolicy", train, seed=args.seed, device="cpu", verbose=0)
    model.learn(args.steps)

    # one episode over the held-out days, from all cash, at the spec's costs
    test = PortfolioEnv(spec.build_sim(market.panel), horizon=len(market.panel),
                        random_start=False)
    obs, info = test.reset(options={"start": split})
    dates, rows, done = [], [], False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        dates.append(info["date"])
        obs, _, terminated, truncated, info = test.step(action)
        rows.append(info["weights"])
        done = terminated or truncated
    weights = pd.DataFrame(rows, index=pd.DatetimeIndex(dates),
                           columns=[*market.panel.tickers, "cash"])
    print(f"SB3 PPO after {args.steps:,} steps: skill {market.skill(weights):+.3f} on "
          f"{len(weights)} held-out days (0 = 1/N, 1 = the growth-optimal allocation)")
    print(f"wealth at the end: {info['wealth']:.3f} (from 1)")


if __name__ == "__main__":
    main()
