"""Environment throughput, measured side by side in one run; prints ratios.

    python bench/env.py [--seconds S]
    python bench/env.py --memory [--assets 500 --days 2520 --window 60]

Measures on the bundled sample (19 assets, envs/default.toml):
  1. PortfolioEnv, one episode, random actions (gymnasium API, float64);
  2. PortfolioVecEnv, 256 episodes per step (gymnasium vector API);
  3. PortfolioSim.score, 64 candidates for each of 256 states (the multi-sample scoring
     Hybrid GRPO uses), against 1 candidate for the same states;
  4. the external reference: a FinRL-style portfolio env that steps with pandas per day.

``--memory`` builds a float64 simulator over a synthetic universe (500 assets, ten
years, window 60 by default), reads a batch of 256 observations, and prints the peak
resident memory of each way of holding the windows, each in a fresh process: gathered
when read (what ``PortfolioSim`` does) against every window laid out in advance (what it
did before).
     FinRL itself pulls in broker SDKs and a trading stack that do not install cleanly
     here, so ``FinRLStylePortfolioEnv`` below is a faithful minimal copy of the way
     FinRL's StockPortfolioEnv steps: a long DataFrame, ``df.loc[day]`` per step,
     softmax of the action, portfolio return from the close prices, and a state of the
     day's precomputed covariance matrix plus its indicators.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from functools import partial

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.data import load_sample
from fin_hgrpo.envs import EnvSpec, PortfolioEnv, PortfolioVecEnv


class FinRLStylePortfolioEnv:
    """Steps like FinRL's StockPortfolioEnv: pandas lookups and arithmetic every day."""

    def __init__(self, df: pd.DataFrame, lookback: int = 252) -> None:
        self.df, self.lookback = df, lookback
        self.days = sorted(df.index.unique())
        self.reset()

    def reset(self):
        self.day = self.lookback
        self.data = self.df.loc[self.days[self.day], :]
        self.value = 1.0
        return self._state()

    def _state(self):
        covs = self.data["cov_list"].values[0]
        indicators = [self.data[name].values.tolist() for name in ("macd", "rsi")]
        return np.append(np.array(covs), indicators, axis=0)

    def step(self, actions):
        weights = np.exp(actions) / np.exp(actions).sum()
        last = self.data
        self.day += 1
        terminal = self.day >= len(self.days) - 1
        self.data = self.df.loc[self.days[self.day], :]
        portfolio_return = float(((self.data.close.values / last.close.values) - 1) @ weights)
        self.value *= 1 + portfolio_return
        return self._state(), portfolio_return, terminal, {}


def _finrl_frame() -> pd.DataFrame:
    prices = load_sample().prices
    long = prices.stack().rename("close").reset_index().rename(columns={"ticker": "tic"})
    long["macd"] = long.groupby("tic")["close"].transform(
        lambda p: p.ewm(span=12).mean() - p.ewm(span=26).mean())
    long["rsi"] = long.groupby("tic")["close"].transform(lambda p: p.pct_change().fillna(0))
    # FinRL precomputes each day's covariance of the last year's returns ("cov_list")
    returns = prices.pct_change()
    covs = {day: returns.iloc[max(1, i - 252) : max(i + 1, 3)].cov().to_numpy()
            for i, day in enumerate(prices.index)}
    long["cov_list"] = long["date"].map(covs)
    return long.set_index("date")


def _rate(fn, seconds: float) -> float:
    """Calls per second of fn over about ``seconds``, after a warm-up."""
    for _ in range(3):
        fn()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _memory_child(assets: int, days: int, window: int, layout: str) -> None:
    """In this process: build the simulator, read observations, print peak MB."""
    from fin_hgrpo.data import MarketPanel
    from fin_hgrpo.envs import PortfolioSim

    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2010-01-04", periods=days)
    prices = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (days, assets)), 0)),
                          index=dates, columns=[f"S{i}" for i in range(assets)])
    panel = MarketPanel(prices)
    before = _peak_mb()
    sim = PortfolioSim(panel, window=window)
    if layout == "materialised":  # the former layout: T x window x A x F held at once
        windows = sim.features.unfold(0, window, 1).permute(0, 3, 1, 2).contiguous()
        sim.observe = lambda t: windows[t - (window - 1)]
    t = torch.randint(sim.first_decision, sim.last_decision + 1, (256,))
    obs = sim.observe(t)
    print(f"{_peak_mb():.0f} {before:.0f} {tuple(obs.shape)}")


def memory(assets: int, days: int, window: int) -> None:
    """Peak memory of the two layouts, each measured in a fresh process."""
    print(f"{assets} assets x {days} days, window {window}, float64, default features")
    for layout in ("gathered", "materialised"):
        out = subprocess.run([sys.executable, __file__, "--memory-child", layout,
                              "--assets", str(assets), "--days", str(days),
                              "--window", str(window)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{layout:<13} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        peak, before, shape = out.stdout.split(" ", 2)
        print(f"{layout:<13} peak {float(peak):8,.0f} MB  (prices and imports {float(before):,.0f}"
              f" MB; observations {shape.strip()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--memory", action="store_true", help="peak memory, not throughput")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--window", type=int, default=60)
    args = parser.parse_args()
    if args.memory_child:
        return _memory_child(args.assets, args.days, args.window, args.memory_child)
    if args.memory:
        return memory(args.assets, args.days, args.window)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spec = EnvSpec.load("envs/default.toml")

    env = PortfolioEnv.from_spec(spec)
    env.reset(seed=0)

    def single_step():
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        if terminated or truncated:
            env.reset()

    single = _rate(single_step, args.seconds)

    vec = PortfolioVecEnv.from_spec(spec, 256)
    vec.reset(seed=0)
    vec_actions = rng.uniform(-1, 1, vec.action_space.shape)
    vectorized = _rate(lambda: vec.step(vec_actions), args.seconds) * 256

    results = {}
    for dtype in (torch.float32, torch.float64):
        sim = spec.build_sim(dtype=dtype)
        t = torch.randint(sim.first_decision, sim.last_decision + 1, (256,))
        w_prev = torch.softmax(torch.randn(256, sim.n_weights, dtype=dtype), -1)
        for n in (1, 64):
            candidates = torch.softmax(torch.randn(256, n, sim.n_weights, dtype=dtype), -1)
            results[dtype, n] = _rate(partial(sim.score, t, w_prev, candidates), args.seconds)

    finrl = FinRLStylePortfolioEnv(_finrl_frame())

    def finrl_step():
        _, _, terminal, _ = finrl.step(rng.normal(size=19))
        if terminal:
            finrl.reset()

    reference = _rate(finrl_step, args.seconds)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sim.n_assets} assets, window {sim.window}, {sim.n_features} features\n")
    rows = [
        ("FinRL-style env (pandas per day)", "steps/s", reference),
        ("PortfolioEnv, single episode", "steps/s", single),
        ("PortfolioVecEnv, 256 episodes", "env-steps/s", vectorized),
    ]
    for dtype, name in ((torch.float32, "float32"), (torch.float64, "float64")):
        rows.append((f"score: 1 candidate x 256 states, {name}", "candidates/s",
                     results[dtype, 1] * 256))
        rows.append((f"score: 64 candidates x 256 states, {name}", "candidates/s",
                     results[dtype, 64] * 256 * 64))
    width = max(len(r[0]) for r in rows)
    for name, unit, value in rows:
        print(f"{name:<{width}}  {value:>14,.0f} {unit:<13} {value / reference:>9.1f}x FinRL")
    print()
    print(f"single env / FinRL-style:              {single / reference:6.1f}x")
    print(f"vector env (256) / single env:         {vectorized / single:6.1f}x")
    for dtype, name in ((torch.float32, "float32"), (torch.float64, "float64")):
        cost = results[dtype, 1] / results[dtype, 64]
        print(f"time of 64 candidates / 1 candidate, {name}: {cost:5.2f}x "
              f"(64x the work; target < 3x)")


if __name__ == "__main__":
    main()
