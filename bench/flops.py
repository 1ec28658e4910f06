"""The physical limit of a backtest's training: floating-point operations per
model-fold, counted from the networks as they run, the job's total, the rate this
machine reaches on them and its peak.

    python bench/flops.py [--spec backtests/default.toml] [--iterations 10]

For each agent of the spec, a population of its seeds (one member each, on the first
fold's training window, one torch thread, as a backtest worker) trains a few
iterations under ``torch.utils.flop_counter.FlopCounterMode``, which counts the
multiply-adds of every matrix product (forward and backward; the elementwise work
around them is not counted, so the rates below are of the products alone). A
model-fold is one seed's training on one fold: iterations x FLOPs per iteration, the
iterations from the spec's budget (a warm fold trains its share of it). The same
iterations timed without the counter give the rate; the peak is a single-precision
1024 x 1024 product on one core. Prints a table and writes
bench/results/flops_<spec>.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from fin_hgrpo.algos import Population, load_agent_config, make_agent
from fin_hgrpo.backtest import BacktestSpec
from fin_hgrpo.io import atomic_write_text
from fin_hgrpo.strategies.config import AgentStrategySpec, default_name

RESULTS = Path(__file__).parent / "results"


def peak_gflops(size: int = 1024, repeats: int = 20) -> float:
    """One core's rate on a large single-precision matrix product (the best of runs)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def measured(strategy: AgentStrategySpec, spec: BacktestSpec, iterations: int,
             ) -> tuple[float, float, int]:
    """FLOPs per iteration of one member, seconds per iteration of the whole
    population, and its members."""
    env = spec.env_spec()
    panel = env.load_panel()
    fold = spec.walk_forward.splitter(env.periods(panel)).split(panel.dates)[0]
    window = panel.slice(fold.train_start, fold.train_end)
    config = load_agent_config(strategy.spec)
    members = [make_agent(env.build_sim(window, dtype=torch.float32),
                          config.model_copy(update={"seed": seed}), env.build_reward())
               for seed in spec.seeds]
    population = Population(members)
    per_iteration = config.states_per_iteration
    population.learn(per_iteration)  # warm-up
    with FlopCounterMode(display=False) as counter:
        population.learn(per_iteration * 2)
    flops = counter.get_total_flops() / len(members)
    started = time.perf_counter()
    population.learn(per_iteration * (2 + iterations))
    return flops, (time.perf_counter() - started) / iterations, len(members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="backtests/default.toml")
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = BacktestSpec.load(args.spec)
    env = spec.env_spec()
    panel = env.load_panel()
    folds = len(spec.walk_forward.splitter(env.periods(panel)).split(panel.dates))
    peak = peak_gflops()
    lines = [f"Command: python bench/flops.py --spec {args.spec} --iterations {args.iterations}",
             f"torch {torch.__version__}, {platform.processor() or platform.machine()}, one "
             f"torch thread; {folds} folds x {len(spec.seeds)} seeds; one core's peak on a "
             f"1024 x 1024 single-precision product: {peak:.0f} GFLOP/s", "",
             "| agent | weights | FLOPs / iteration | iterations / model-fold (first, warm) "
             "| GFLOP / model-fold | model-folds | TFLOP in all | GFLOP/s reached | of peak |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    total = 0.0
    for strategy in spec.strategies:
        if not isinstance(strategy, AgentStrategySpec):
            continue
        config = load_agent_config(strategy.spec)
        flops, seconds, members = measured(strategy, spec, args.iterations)
        budgets = [config.iterations_for(steps)
                   for steps in strategy.fold_steps(strategy.steps, folds)]
        job = flops * sum(budgets) * members
        total += job
        agent = make_agent(env.build_sim(panel.slice(panel.dates[0], panel.dates[800]),
                                         dtype=torch.float32), config, env.build_reward())
        weights = sum(p.numel() for p in agent.trained_parameters)
        rate = flops * members / seconds / 1e9
        lines.append(f"| {default_name(strategy)} | {weights:,} | {flops / 1e9:.3f} G | "
                     f"{budgets[0]}, {budgets[-1]} | {job / members / folds / 1e9:.1f} | "
                     f"{members * folds} | {job / 1e12:.2f} | {rate:.1f} | {rate / peak:.0%} |")
    lines += ["", f"The job's training: {total / 1e12:.2f} TFLOP; at one core's peak on each "
              f"of 2 cores, {total / (2 * peak * 1e9):.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(RESULTS / f"flops_{Path(args.spec).stem}.md", text)


if __name__ == "__main__":
    main()
