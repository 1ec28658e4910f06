"""Quick start: data, an environment, Hybrid GRPO trained on it, a walk-forward backtest
against 1/N, and its report.

Run it in a workspace (the clone after ``make``, or a folder from ``fin-hgrpo init``)::

    python examples/quickstart.py                         # a few minutes
    python examples/quickstart.py --steps 1000 --folds 1  # a smoke run (what CI runs)
"""

from __future__ import annotations

import argparse

import gymnasium
import torch

from fin_hgrpo.algos import HybridGRPO, load_agent_config
from fin_hgrpo.algos.evaluation import allocation_path
from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
from fin_hgrpo.data import load_sample
from fin_hgrpo.envs import EnvSpec, PortfolioEnv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="market states to train on")
    parser.add_argument("--folds", type=int, default=3, help="last walk-forward folds to run")
    parser.add_argument("--out", default="backtests/results/quickstart")
    parser.add_argument("--workers", type=int, help="processes for the backtest (the cores)")
    args = parser.parse_args()

    # 1. Data: the bundled sample, 19 US stocks (adjusted daily closes)
    panel = load_sample()
    print(f"{panel.n_assets} assets, {len(panel)} days, {panel.dates[0].date()} .. "
          f"{panel.dates[-1].date()}, {panel.periods_per_year} bars a year")

    # 2. An environment: the env spec names data, features, costs and reward; the
    #    gymnasium env is what stable-baselines3 or any gymnasium agent would see
    spec = EnvSpec.load("envs/default.toml")
    env = PortfolioEnv.from_spec(spec)
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(env.action_space.sample())
    print(f"observation {obs.shape}, one day's reward {reward:+.5f}")
    assert isinstance(env.action_space, gymnasium.spaces.Box)

    # 3. Train Hybrid GRPO (the agent spec the main job uses) on the first three years,
    #    and read its targets over the next year (features are causal: nothing leaks)
    train, later = panel.dates[756], panel.dates[1008]
    config = load_agent_config("strategies/hgrpo.toml").model_copy(update={"seed": 0})
    agent = HybridGRPO(spec.build_sim(panel.slice(None, train), dtype=torch.float32), config)
    agent.learn(args.steps)
    targets = allocation_path(agent, spec.build_sim(panel.slice(None, later)), start=train)
    print("mean target weights over the next year (largest five):")
    print(targets.mean().sort_values(ascending=False).head().round(3).to_string())

    # 4. A walk-forward backtest: train on three years, test on the next, fold by fold,
    #    net of the spec's costs, beside 1/N and SPY; then the report
    backtest = BacktestSpec.model_validate({
        "name": "quickstart", "env": "envs/default.toml", "seeds": [0], "tearsheets": False,
        "walk_forward": {"train_days": "3y", "test_days": "1y", "max_folds": args.folds},
        "strategies": [
            {"kind": "agent", "spec": "strategies/hgrpo.toml", "steps": args.steps},
            {"kind": "equal_weight"}, {"kind": "benchmark", "ticker": "SPY"}],
    })
    backtest.check_files("quickstart")
    result = run_backtest(backtest, workers=args.workers, progress=False)
    print(result.metrics[["sharpe", "cagr", "max_drawdown", "turnover"]].round(2).to_string())
    print(f"report: {save_backtest(result, args.out, tearsheets=False) / 'report.html'}")


if __name__ == "__main__":
    main()
