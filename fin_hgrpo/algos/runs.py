"""Training runs on disk: ``fin-hgrpo train`` and ``--resume``.

A run directory holds ``config.json`` (the resolved agent and env specs, seed, budget),
``checkpoint.pt`` (everything to resume exactly; ``torch.save`` of state dicts, read
back with ``weights_only=True``), ``metrics.csv`` (one row per iteration) and
``learning_curve.png``. Every file is replaced atomically, so a killed run leaves the
last complete checkpoint and can resume from it.

A population run (``fin-hgrpo train SPEC --seeds 0-7``) is a folder holding
``population.json`` (its members) and one such run directory per member
(``seed<k>/``), trained together as one ``Population``; each member's checkpoint is
saved after each of its iterations, and the folder resumes like a single run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from fin_hgrpo.algos import Agent, Population, agent_config, load_agent_config, make_agent
from fin_hgrpo.algos.core import WALL_CLOCK
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import FinHgrpoError, SpecError
from fin_hgrpo.io import atomic_write, atomic_write_text, read_json
from fin_hgrpo.tensorboard import log_iteration, summary_writer

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.csv"
CURVE = "learning_curve.png"
POPULATION = "population.json"


def start_run(agent_spec: str | Path, env_spec: str | Path, out: str | Path, *,
              states: int | None = None, seed: int | None = None,
              device: str | None = None) -> Path:
    """Write a new run's resolved config; ``train`` then does the work."""
    config = load_agent_config(agent_spec)
    overrides = {k: v for k, v in (("seed", seed), ("device", device)) if v is not None}
    config = config.model_copy(update=overrides)
    env = EnvSpec.load(env_spec)
    out = Path(out)
    if (out / CHECKPOINT).exists():
        raise SpecError(f"{out}: already holds a run; resume it with --resume {out}")
    resolved = {"agent": config.model_dump(), "env": env.model_dump(mode="json"),
                "states": states or 100 * config.states_per_iteration,
                "agent_spec": str(agent_spec), "env_spec": str(env_spec)}
    atomic_write_text(out / CONFIG, json.dumps(resolved, indent=2))
    return out


def start_population(agent_spec: str | Path, env_spec: str | Path, out: str | Path, *,
                     seeds: list[int], states: int | None = None,
                     device: str | None = None) -> Path:
    """Write a population run: a run directory per seed and ``population.json``."""
    out = Path(out)
    if (out / POPULATION).exists():
        raise SpecError(f"{out}: already holds a population; resume it with --resume {out}")
    members = [f"seed{seed}" for seed in seeds]
    for seed, member in zip(seeds, members, strict=True):
        start_run(agent_spec, env_spec, out / member, states=states, seed=seed, device=device)
    atomic_write_text(out / POPULATION, json.dumps({"members": members}, indent=2))
    return out


def train(run: str | Path, *, progress: bool = True, max_iterations: int | None = None,
          tensorboard: str | Path | None = None) -> Agent | list[Agent]:
    """Train (or go on training) the run in ``run`` until its state budget is spent: a
    single run's agent, or a population's members.

    ``max_iterations`` stops this session after that many iterations (the run can be
    resumed later), e.g. for time-sliced jobs. ``tensorboard``: a folder that gets the
    run's metrics as it trains (``<folder>/<run name>``, a member's under it).
    """
    run = Path(run)
    if (run / POPULATION).is_file():
        return train_population(run, progress=progress, max_iterations=max_iterations,
                                tensorboard=tensorboard)
    agent, resolved = _agent_of(run)
    board = summary_writer(Path(tensorboard) / run.name) if tensorboard else None
    if (run / CHECKPOINT).is_file():
        _restore_wall_clock(agent, run / METRICS)
    total = resolved["states"]
    done_here = 0
    bar = tqdm(total=agent.iterations_for(total), initial=agent.iteration,
               desc=agent.config.algorithm,
               disable=not progress, unit="it")

    def after_iteration(agent: Agent, metrics: dict) -> bool:
        nonlocal done_here
        done_here += 1
        bar.update(1)
        bar.set_postfix(reward=f"{metrics['mean_log_growth']:.1e}",
                        kl=f"{metrics['approx_kl']:.3f}", entropy=f"{metrics['entropy']:.2f}",
                        sps=f"{metrics['states_per_second']:.0f}")
        save(agent, run)
        if board is not None:
            log_iteration(board, metrics)
        return max_iterations is None or done_here < max_iterations

    try:
        agent.learn(total, callback=after_iteration)
    finally:
        if board is not None:
            board.close()
    bar.close()
    save(agent, run, curve=True)
    return agent


def train_population(folder: str | Path, *, progress: bool = True,
                     max_iterations: int | None = None,
                     tensorboard: str | Path | None = None) -> list[Agent]:
    """Train a population run's members together; each saves after its iterations. A
    member that diverges keeps its last checkpoint and the others go on; the error
    names it (``FinHgrpoError``) once the others are done."""
    folder = Path(folder)
    members = read_json(folder / POPULATION, "members")["members"]
    agents, budgets = [], set()
    for member in members:
        agent, resolved = _agent_of(folder / member)
        if (folder / member / CHECKPOINT).is_file():
            _restore_wall_clock(agent, folder / member / METRICS)
        agents.append(agent)
        budgets.add(resolved["states"])
    if len(budgets) != 1:
        raise SpecError(f"{folder}: members have different budgets {sorted(budgets)}")
    total = budgets.pop()
    population = Population(agents)
    per_member = agents[0].iterations_for(total)
    bar = tqdm(total=per_member * len(agents), initial=sum(a.iteration for a in agents),
               desc=f"{agents[0].config.algorithm} x{len(agents)}", disable=not progress,
               unit="it")
    done_here = 0
    boards = [summary_writer(Path(tensorboard) / folder.name / member) for member in members] \
        if tensorboard else None

    def after_iteration(metrics: dict[int, dict]) -> list[int] | None:
        nonlocal done_here
        done_here += 1
        for k in metrics:
            save(agents[k], folder / members[k])
            if boards is not None:
                log_iteration(boards[k], metrics[k])
        bar.update(len(metrics))
        return list(metrics) if max_iterations is not None and done_here >= max_iterations \
            else None

    try:
        population.learn(total, callback=after_iteration)
    finally:
        for board in boards or []:
            board.close()
    bar.close()
    for agent, member in zip(agents, members, strict=True):
        save(agent, folder / member, curve=True)
    failed = [f"{member}: {error}" for member, error in zip(members, population.errors,
                                                             strict=True) if error is not None]
    if failed:
        raise FinHgrpoError(f"{folder}: " + "; ".join(failed))
    return agents


def save(agent: Agent, run: Path, curve: bool = False) -> None:
    """Checkpoint and metrics, each written atomically."""
    agent.save(run / CHECKPOINT, training_state=True)
    metrics = pd.DataFrame(agent.history)
    atomic_write(run / METRICS, lambda tmp: metrics.to_csv(tmp, index=False))
    if curve and not metrics.empty:
        atomic_write(run / CURVE, lambda tmp: plot_learning_curve(metrics, tmp))


def _restore_wall_clock(agent: Agent, metrics_csv: Path) -> None:
    """Timings live in metrics.csv only; put them back beside the checkpoint's history."""
    if not metrics_csv.is_file():
        return
    recorded = pd.read_csv(metrics_csv).to_dict("records")
    for metrics, row in zip(agent.history, recorded, strict=False):
        for key in WALL_CLOCK:
            metrics.setdefault(key, row.get(key, float("nan")))


def load_agent(run: str | Path, device: str = "cpu") -> Agent:
    """The trained agent of a run directory, on its own env's simulator."""
    run = Path(run)
    if not (run / CHECKPOINT).is_file():
        raise SpecError(f"{run}: no {CHECKPOINT} to load")
    return _agent_of(run, device)[0]


def _agent_of(run: Path, device: str | None = None) -> tuple[Agent, dict]:
    """The run's agent built from its resolved config, at its checkpoint if it has one."""
    if not (run / CONFIG).is_file():
        raise SpecError(f"{run}: no {CONFIG}; start a run with fin-hgrpo train SPEC --env ENV")
    resolved = read_json(run / CONFIG, "agent")
    agent_data = resolved["agent"] if device is None else {**resolved["agent"], "device": device}
    config = agent_config(agent_data, str(run / CONFIG))
    env = EnvSpec.model_validate(resolved["env"])
    sim = env.build_sim(dtype=torch.float32, device=config.device)
    if (run / CHECKPOINT).is_file():
        return Agent.load(run / CHECKPOINT, sim, env.build_reward()), resolved
    return make_agent(sim, config, env.build_reward()), resolved


def plot_learning_curve(metrics: pd.DataFrame, path: Path) -> None:
    """Mean log growth per day (smoothed) against market states visited and actions scored."""
    from matplotlib.figure import Figure

    smooth = metrics["mean_log_growth"].rolling(10, min_periods=1).mean()
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    axes[0].plot(metrics["states"], smooth)
    axes[0].set_xlabel("market states visited")
    axes[0].set_ylabel("mean log growth per day")
    axes[1].plot(metrics["actions_scored"], smooth)
    axes[1].set_xlabel("actions scored")
    axes[2].plot(metrics["states"], metrics["entropy"])
    axes[2].set_xlabel("market states visited")
    axes[2].set_ylabel("policy entropy")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
