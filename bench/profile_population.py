"""Where a population iteration's time goes: K members of an agent on the bundled
sample (each on its own 756-day window, as a backtest's folds), one torch thread, the
phases of ``Population.train_iteration`` timed over several iterations after a warm-up,
and torch's profiler's heaviest operators inside the batched update.

    python bench/profile_population.py [--agent strategies/hgrpo.toml] [--members 8]
                                       [--iterations 5] [--encoder mlp|shared]

Phases: ``collect`` (the members' rollouts, in lockstep: acting, the simulator's
scoring, continuations), ``targets`` (each member's advantages and value targets),
``update`` (the batched minibatch steps: forward, backward, clipping, AdamW),
``write back`` (networks and optimiser states into the agents) and ``bookkeeping``
(the rest: reward normaliser, reference policy, diagnostics). Prints a table and
writes bench/results/profile_population_<encoder>_k<members>.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from timing import Clock  # bench/timing.py: scripts run from bench/

from fin_hgrpo.algos import Population, load_agent_config, make_agent
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.algos.lockstep import Lockstep
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.io import atomic_write_text

RESULTS = Path(__file__).parent / "results"
WINDOW_DAYS, WINDOW_STEP = 756, 252  # member k trains on days [252k mod span, +756)


def _population(agent_spec: str, members: int, encoder: str | None,
                env_spec: str = "envs/default.toml") -> Population:
    env = EnvSpec.load(env_spec)
    panel = env.load_panel()
    room = len(panel) - WINDOW_DAYS - 1
    config = load_agent_config(agent_spec)
    if encoder is not None:
        config = config.model_copy(update={"encoder": encoder})
    agents = []
    for k in range(members):
        start = (WINDOW_STEP * k) % room
        sim = env.build_sim(panel.slice(panel.dates[start], panel.dates[start + WINDOW_DAYS]),
                            dtype=torch.float32)
        agents.append(make_agent(sim, config.model_copy(update={"seed": k}),
                                 env.build_reward()))
    return Population(agents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", default="strategies/hgrpo.toml")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--encoder", choices=("mlp", "shared"))
    parser.add_argument("--env", default="envs/default.toml",
                        help="the env spec (envs/long_short.toml: a 130/30 book)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    population = _population(args.agent, args.members, args.encoder, args.env)
    first = population.members[0]
    per_iteration = first.config.states_per_iteration
    population.learn(per_iteration)  # warm-up

    clock = Clock()
    clock.wrap(Lockstep, "collect", "collect")  # the members' rollouts, in lockstep
    clock.wrap(Agent, "collect", "collect")  # a population of one collects as its agent
    clock.wrap(type(first), "targets", "targets")
    clock.wrap(Population, "_update", "update")
    clock.wrap(Agent, "_update", "update")  # a population of one updates as its agent
    clock.wrap(Population, "_write_back", "write back")
    started = time.perf_counter()
    population.learn(per_iteration * (args.iterations + 1))
    total = time.perf_counter() - started
    phases = dict(clock.seconds)
    phases["bookkeeping"] = total - sum(phases.values())

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        population.learn(per_iteration * (args.iterations + 2))
    operators = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)

    encoder = first.config.encoder
    weights = sum(p.numel() for p in first.trained_parameters)
    book = "" if args.env == "envs/default.toml" else f" --env {args.env}"
    lines = [f"Command: python bench/profile_population.py --agent {args.agent} "
             f"--members {args.members} --iterations {args.iterations} --encoder {encoder}"
             f"{book}",
             f"torch {torch.__version__}, {platform.processor() or platform.machine()}, one "
             f"torch thread; {first.config.algorithm}, encoder {encoder} ({weights:,} "
             f"trained weights per member), {args.members} members on the bundled sample, "
             f"{per_iteration} states per member per iteration; "
             f"{total / args.iterations:.2f} s per iteration "
             f"({args.members * per_iteration * args.iterations / total:,.0f} states/s)",
             "", "| phase | s per iteration | share |", "|---|---:|---:|"]
    for phase in ("collect", "targets", "update", "write back", "bookkeeping"):
        seconds = phases.get(phase, 0.0)
        lines.append(f"| {phase} | {seconds / args.iterations:.3f} | {seconds / total:.1%} |")
    lines += ["", "Heaviest operators over one more iteration (torch.profiler, self CPU time):",
              "", "```text", operators.rstrip(), "```"]
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = "" if args.env == "envs/default.toml" else f"_{Path(args.env).stem}"
    atomic_write_text(RESULTS / f"profile_population_{encoder}_k{args.members}{suffix}.md", text)


if __name__ == "__main__":
    main()
