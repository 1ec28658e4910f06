"""Training throughput of populations: K agents updated as one batched computation,
against the same K agents trained one after another, and stable-baselines3's PPO
training K seeds as separate processes.

    python bench/population.py [--members 1,4,8,16,32] [--iterations 3]
                               [--algorithms hybrid_grpo,ppo] [--markets sample,synthetic]
                               [--agents bench|shipped] [--device cpu|cuda] [--no-sb3]

On a CPU everything runs on the same 2 cores: two worker processes with one torch
thread each, each holding half of the K members (a population of K/2, or K/2 agents
trained in turn, or K/2 SB3 seeds in turn), as the backtest's two workers do. Agents
run at the algorithms' default settings (``--agents bench``: 256 states per iteration,
minibatches of 64 states, 10 epochs, a flat MLP) or at the shipped specs
(``--agents shipped``: ``strategies/*.toml``, the main job's agents), each member on
its own training window of the market (a member per fold); the ``history`` market is
the main job's (the whole history, point in time, its slow features).
Aggregate throughput is K x states per member / wall-clock seconds of training (one
warm-up iteration first, excluded). ``--device cuda`` runs one process on the GPU.
Writes bench/results/population.{csv,md}.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from fin_hgrpo.algos import Population, load_agent_config, make_agent
from fin_hgrpo.envs import EnvSpec, PortfolioEnv
from fin_hgrpo.io import atomic_write, atomic_write_text

RESULTS = Path(__file__).parent / "results"
AGENT_SPECS = Path(__file__).parent / "specs" / "agents"  # <algorithm>.toml: its defaults
WORKERS = 2
MARKETS = {  # the bundled sample's last ten years and its whole history (19 assets),
    # and a small synthetic market (3 assets, window 5, 2 features) where a step is all
    # overhead
    "sample": "envs/default.toml",
    "history": "envs/full_history.toml",
    "synthetic": "envs/synthetic_iid.toml",
}
SHIPPED = {"hybrid_grpo": "strategies/hgrpo.toml", "ppo": "strategies/ppo.toml",
           "grpo": "strategies/grpo.toml"}  # --agents shipped
WINDOW_DAYS, WINDOW_STEP = 756, 21  # member k trains on days [21k, 21k + 756)


def _sims(market: str, members: list[int], device: str):
    spec = EnvSpec.load(MARKETS[market])
    panel = spec.load_panel()
    span = min(WINDOW_DAYS, len(panel) - WINDOW_STEP * max(members) - 1)
    return spec, [spec.build_sim(panel.slice(panel.dates[WINDOW_STEP * k],
                                             panel.dates[WINDOW_STEP * k + span]),
                                 dtype=torch.float32, device=device) for k in members]


def _agents(algorithm: str, market: str, members: list[int], device: str):
    spec, sims = _sims(market, members, device)
    shipped = algorithm.endswith("@shipped")
    algorithm = algorithm.removesuffix("@shipped")
    config = load_agent_config(SHIPPED[algorithm] if shipped else
                               AGENT_SPECS / f"{algorithm}.toml")
    return [make_agent(sim, config.model_copy(update={"seed": k, "device": device}),
                       spec.build_reward()) for k, sim in zip(members, sims, strict=True)]


def _population(algorithm: str, market: str, members: list[int], iterations: int,
                device: str = "cpu") -> float:
    """Seconds for ``iterations`` iterations of one population of ``members``."""
    torch.set_num_threads(1)
    population = Population(_agents(algorithm, market, members, device))
    per_iteration = population.members[0].config.states_per_iteration
    population.learn(per_iteration)  # warm-up
    started = time.perf_counter()
    population.learn(per_iteration * (iterations + 1))
    return time.perf_counter() - started


def _one_by_one(algorithm: str, market: str, members: list[int], iterations: int,
                device: str = "cpu") -> float:
    """Seconds for ``iterations`` iterations of each of ``members``, trained in turn."""
    torch.set_num_threads(1)
    seconds = 0.0
    for agent in _agents(algorithm, market, members, device):
        per_iteration = agent.config.states_per_iteration
        agent.learn(per_iteration)
        started = time.perf_counter()
        agent.learn(per_iteration * (iterations + 1))
        seconds += time.perf_counter() - started
    return seconds


def _sb3(market: str, members: list[int], states: int) -> float:
    """Seconds for SB3 PPO (its defaults, 10 epochs) to train each seed for ``states``
    states on the gymnasium env, in turn; model building and a first rollout excluded."""
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    spec, sims = _sims(market, members, "cpu")
    seconds = 0.0
    for seed, sim in zip(members, sims, strict=True):
        sim = spec.build_sim(sim.panel)  # float64, as the gymnasium env is used
        env = PortfolioEnv(sim, spec.build_reward(), horizon=spec.episode.horizon)
        model = PPO("MlpPolicy", env, n_epochs=10, n_steps=256, batch_size=64, seed=seed,
                    device="cpu", verbose=0)
        model.learn(256)  # warm-up
        started = time.perf_counter()
        model.learn(states, reset_num_timesteps=False)
        seconds += time.perf_counter() - started
    return seconds


def _on_two_cores(fn, *args, members: list[int]) -> float:
    """Wall-clock of ``fn`` run by two worker processes on halves of ``members``."""
    halves = [members[i::WORKERS] for i in range(WORKERS)]
    halves = [h for h in halves if h]
    with multiprocessing.get_context("spawn").Pool(len(halves)) as pool:
        seconds = pool.starmap(fn, [(*args[:2], half, *args[2:]) for half in halves])
    return max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", default="1,4,8,16,32")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--algorithms", default="hybrid_grpo,ppo")
    parser.add_argument("--markets", default="sample,synthetic")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--agents", default="bench", choices=("bench", "shipped"))
    parser.add_argument("--no-sb3", action="store_true")
    args = parser.parse_args()
    suffix = "@shipped" if args.agents == "shipped" else ""
    sizes = [int(k) for k in args.members.split(",")]
    rows = []
    states = 256 * args.iterations  # per member, at the default 32 x 8 rollout
    for market in args.markets.split(","):
        for size in sizes:
            members = list(range(size))
            for algorithm in args.algorithms.split(","):
                agent = algorithm + suffix
                if args.device == "cuda":
                    together = _population(agent, market, members, args.iterations, "cuda")
                    apart = _one_by_one(agent, market, members, args.iterations, "cuda")
                else:
                    together = _on_two_cores(_population, agent, market, args.iterations,
                                             members=members)
                    apart = _on_two_cores(_one_by_one, agent, market, args.iterations,
                                          members=members)
                rows.append({"market": market, "members": size, "algorithm": algorithm,
                             "population": size * states / together,
                             "one_by_one": size * states / apart})
                print(rows[-1], flush=True)
            if not args.no_sb3 and args.device == "cpu":
                seconds = _on_two_cores_sb3(market, members, states)
                rows.append({"market": market, "members": size, "algorithm": "sb3_ppo",
                             "population": float("nan"),
                             "one_by_one": size * states / seconds})
                print(rows[-1], flush=True)
    _write(pd.DataFrame(rows), args)


def _on_two_cores_sb3(market: str, members: list[int], states: int) -> float:
    halves = [h for h in (members[i::WORKERS] for i in range(WORKERS)) if h]
    with multiprocessing.get_context("spawn").Pool(len(halves)) as pool:
        return max(pool.starmap(_sb3, [(market, half, states) for half in halves]))


def _write(table: pd.DataFrame, args: argparse.Namespace) -> None:
    table["speedup"] = table["population"] / table["one_by_one"]
    sb3 = table[table["algorithm"] == "sb3_ppo"].set_index(["market", "members"])["one_by_one"]
    key = pd.MultiIndex.from_frame(table[["market", "members"]])
    table["population_vs_sb3"] = table["population"].to_numpy() / sb3.reindex(key).to_numpy() \
        if len(sb3) else float("nan")
    RESULTS.mkdir(exist_ok=True)
    name = "population" if args.agents == "bench" else "population_shipped"
    atomic_write(RESULTS / f"{name}.csv", lambda tmp: table.to_csv(tmp, index=False))
    where = (f"{torch.cuda.get_device_name()}" if args.device == "cuda" else
             f"{WORKERS} worker processes x 1 torch thread on {platform.processor() or 'CPU'}")
    lines = [f"Command: python bench/population.py --members {args.members} "
             f"--iterations {args.iterations} --algorithms {args.algorithms} "
             f"--markets {args.markets} --agents {args.agents} --device {args.device}",
             f"torch {torch.__version__}, {where}; aggregate training states per second", "",
             "| market | K | algorithm | population | one by one | speedup | vs SB3 PPO |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for row in table.itertuples():
        lines.append(f"| {row.market} | {row.members} | {row.algorithm} | "
                     f"{row.population:,.0f} | {row.one_by_one:,.0f} | {row.speedup:.2f}x | "
                     f"{row.population_vs_sb3:.2f}x |")
    text = "\n".join(lines).replace("| nan |", "| - |").replace("nanx", "-")
    atomic_write_text(RESULTS / f"{name}.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
