"""Learning curves of PPO, GRPO and Hybrid GRPO, and stable-baselines3's PPO as an
external reference, on the synthetic markets (scored against their known optimum)
and on the bundled real sample; several seeds; one table of ratios.

    python bench/agents.py [--states N] [--seeds K] [--markets iid,regime,signal,sample]
                           [--days D] [--score-every S] [--resume]

Each run trains on the first 70% of the market's days and is scored on the rest:
skill = (growth - 1/N's) / (oracle's - 1/N's) on synthetic markets (expected log
growth of the weights chosen along the held-out path), and on the real sample the
out-of-sample annualised log growth in excess of 1/N (there is no oracle). ``--days``
sets the length of the synthetic paths (the specs' ten years by default): on ten
years a network can memorise the training days' noise instead of finding the
optimum, on a century it cannot, which separates learning from overfitting. Curves
are kept against market states visited, actions scored and wall-clock (training
only; evaluation time is excluded). SB3 PPO uses its defaults with the same number
of epochs (10) on the same gymnasium env. Writes bench/results/agents.{csv,md,png}
(``agents_<D>d_<N/1000>k.*`` with ``--days``); the curves CSV grows after every
finished run, so a killed benchmark continues with ``--resume``.

Every agent variant is a spec file: ``--algorithms NAME`` trains
``bench/specs/agents/NAME.toml`` (an agent spec, as ``strategies/*.toml``), and
``--ablation NAME`` runs ``bench/specs/ablations/NAME.toml`` (an env, a budget and
named variants). Env paths are relative to the clone's root, the workspace the
benchmarks run in.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from fin_hgrpo.algos import (
    AgentConfig,
    Population,
    agent_config,
    load_agent_config,
    make_agent,
)
from fin_hgrpo.algos.core import weight_decay_groups
from fin_hgrpo.algos.evaluation import allocation_path
from fin_hgrpo.config import load_spec
from fin_hgrpo.data import SyntheticMarket
from fin_hgrpo.envs import EnvSpec, PortfolioEnv
from fin_hgrpo.io import atomic_write, atomic_write_text

RESULTS = Path(__file__).parent / "results"
SPEC_DIR = Path(__file__).parent / "specs"
AGENTS = {path.stem: path for path in sorted((SPEC_DIR / "agents").glob("*.toml"))}
ABLATIONS = {path.stem: path for path in sorted((SPEC_DIR / "ablations").glob("*.toml"))}
ALGORITHMS = ("ppo", "grpo", "hybrid_grpo", "sb3_ppo")
SPECS = {"iid": "envs/synthetic_iid.toml", "regime": "envs/synthetic_regime.toml",
         "signal": "envs/synthetic_signal.toml", "sample": "envs/default.toml"}


class Market:
    """A market split in time: train on the start, score on the rest."""

    def __init__(self, name: str, days: int | None = None) -> None:
        self.name, self.spec = name, EnvSpec.load(SPECS[name])
        if days is not None and self.spec.data.source.startswith("synthetic"):
            data = self.spec.data.model_copy(update={"n_days": days})
            self.spec = self.spec.model_copy(update={"data": data})
        loaded = self.spec.load_market()
        self.truth = loaded if isinstance(loaded, SyntheticMarket) else None
        panel = loaded.panel if self.truth is not None else loaded
        self.split = panel.dates[int(len(panel) * 0.7)]
        self.train = self.spec.build_sim(panel.slice(None, self.split), dtype=torch.float32)
        self.full = self.spec.build_sim(panel)

    def score(self, weights: pd.DataFrame) -> float:
        """Skill net of the env's costs on a synthetic market (the oracle's and 1/N's
        paths charged alike); on the real sample, excess log growth over 1/N."""
        if self.truth is not None:
            return self.truth.skill(weights, cost_bps=_cost_bps(self.spec))
        relatives = self.full.relatives[self.full.dates.searchsorted(weights.index)].numpy()
        growth = np.log((weights.to_numpy() * relatives).sum(1))
        equal = np.log(relatives[:, :-1].mean(1))
        return float((growth - equal).mean() * 252)  # annualised excess log growth


def _curve_row(algorithm, market, seed, states, actions, seconds, score, throughput,
               stability=None):
    return {"algorithm": algorithm, "market": market.name, "seed": seed, "states": states,
            "actions_scored": actions, "train_seconds": seconds, "score": score,
            "states_per_second": throughput, **(stability or {})}


def agent_spec(name: str) -> Path:
    """A variant's agent spec: bench/specs/agents/<name>.toml, or a spec file's path
    (``strategies/hgrpo.toml``: an agent as the main job runs it)."""
    return Path(name) if name.endswith(".toml") else AGENTS[name]


def label(name: str) -> str:
    """A variant's name in the results: its file's algorithm for a path, else the name."""
    return f"{load_agent_config(name).algorithm} ({name})" if name.endswith(".toml") else name


def run_ours(algorithm: str, market: Market, seed: int, states: int, every: int) -> list[dict]:
    config = load_agent_config(agent_spec(algorithm)).model_copy(update={"seed": seed})
    agent = make_agent(market.train, config, market.spec.build_reward())
    rows, clock = [], {"train": 0.0, "last": time.perf_counter(), "next": every}

    def callback(agent, metrics):
        clock["train"] += time.perf_counter() - clock["last"]
        if agent.states_seen >= clock["next"] or agent.states_seen >= states:
            clock["next"] += every
            score = market.score(allocation_path(agent, market.full, market.split))
            history = pd.DataFrame(agent.history)
            stability = {"approx_kl": float(history["approx_kl"].mean()),
                         "clip_fraction": float(history["clip_fraction"].mean())}
            rows.append(_curve_row(label(algorithm), market, seed, agent.states_seen,
                                   agent.actions_scored, clock["train"], score,
                                   agent.states_seen / clock["train"], stability))
        clock["last"] = time.perf_counter()

    agent.learn(states, callback=callback)
    return rows


# stable-baselines3's PPO as the external reference: bench/specs/sb3/<name>.toml sets
# its weight decay
SB3_AGENTS = {path.stem: tomllib.loads(path.read_text())["weight_decay"]
              for path in sorted((SPEC_DIR / "sb3").glob("*.toml"))}


def run_sb3(name: str, market: Market, seed: int, states: int,
            every_states: int) -> list[dict]:
    """SB3 PPO at its defaults with our number of epochs; with weight decay
    (``sb3_ppo_wd``) its Adam becomes AdamW decaying the weight matrices, as ours does."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    env = PortfolioEnv(market.train, market.spec.build_reward(),
                       horizon=market.spec.episode.horizon)
    model = PPO("MlpPolicy", env, n_epochs=10, seed=seed, device="cpu", verbose=0)
    if SB3_AGENTS[name]:
        model.policy.optimizer = torch.optim.AdamW(
            weight_decay_groups(list(model.policy.parameters()), SB3_AGENTS[name]),
            lr=model.lr_schedule(1.0), eps=1e-5)
    rows, clock = [], {"train": 0.0, "last": time.perf_counter()}

    class Score(BaseCallback):
        def _init_callback(self) -> None:
            self.next_score = every_states

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_score:
                self.next_score += every_states
                self._score()
            return True

        def _on_training_end(self) -> None:
            self._score()

        def _score(self) -> None:
            clock["train"] += time.perf_counter() - clock["last"]
            score = market.score(_sb3_path(model, market))
            rows.append(_curve_row(name, market, seed, self.num_timesteps,
                                   self.num_timesteps, clock["train"], score,
                                   self.num_timesteps / clock["train"]))
            clock["last"] = time.perf_counter()

    model.learn(states, callback=Score())
    return rows


def _sb3_path(model, market: Market) -> pd.DataFrame:
    env = PortfolioEnv(market.full, horizon=len(market.full.dates), random_start=False)
    obs, _ = env.reset(options={"start": market.split})
    rows, dates, done = [], [], False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        dates.append(env.sim.dates[int(env._episodes.t[0])])
        obs, _, terminated, truncated, info = env.step(action)
        rows.append(info["weights"])
        done = terminated or truncated
    return pd.DataFrame(rows, index=pd.DatetimeIndex(dates),
                        columns=[*market.full.panel.tickers, "cash"])


def summarise(curves: pd.DataFrame, targets: tuple[float, ...] = (0.5, 0.9)) -> pd.DataFrame:
    """Per market and algorithm: final score, speed, and per target skill the states
    and seconds to reach it (median over the seeds that do) and the seeds that do.

    Where SB3 PPO never reaches a target its whole training time stands in for its
    time to it, so ``time_to_<target>_vs_sb3`` is then a lower bound
    (``sb3_reached_<target>`` False).
    """
    rows = []
    for (market, algorithm), group in curves.groupby(["market", "algorithm"], sort=False):
        finals = group.groupby("seed").last()
        row = {"market": market, "algorithm": algorithm, "seeds": len(finals),
               "final_score_mean": finals["score"].mean(),
               "final_score_std": finals["score"].std(),
               "states_per_second": finals["states_per_second"].mean(),
               "train_seconds": finals["train_seconds"].median()}
        synthetic = market != "sample"  # no oracle, so no skill, on the real sample
        for target in targets:
            reached = group[group["score"] >= target].groupby("seed").first()
            row[f"states_to_{target}"] = reached["states"].median() if synthetic else np.nan
            row[f"seconds_to_{target}"] = reached["train_seconds"].median() if synthetic \
                else np.nan
            row[f"seeds_reaching_{target}"] = len(reached) if synthetic else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    reference = table[table["algorithm"] == "sb3_ppo"].set_index("market")
    table["throughput_vs_sb3"] = table["states_per_second"] / \
        table["market"].map(reference["states_per_second"])
    for target in targets:
        sb3_reached = reference[f"seconds_to_{target}"].notna()
        sb3_time = reference[f"seconds_to_{target}"].where(sb3_reached,
                                                           reference["train_seconds"])
        table[f"time_to_{target}_vs_sb3"] = table["market"].map(sb3_time) / \
            table[f"seconds_to_{target}"]
        table[f"sb3_reached_{target}"] = table["market"].map(sb3_reached)
    return table.drop(columns="train_seconds")


CLAIM_BUDGETS = (10_000, 20_000, 30_000)  # states: skill at fixed budgets


def paper_claims(curves: pd.DataFrame, budgets: tuple[int, ...] = CLAIM_BUDGETS) -> pd.DataFrame:
    """The paper's three claims, per market and algorithm, over seeds: convergence speed
    (market states to reach 90% of the run's own final net skill, median over the seeds
    whose final skill is positive), stability (the seeds' spread of final skill; the
    updates' mean approximate KL and clip fraction) and sample efficiency (net skill at
    fixed budgets of states)."""
    rows = []
    for (market, algorithm), group in curves.groupby(["market", "algorithm"], sort=False):
        finals = group.groupby("seed").last()
        to_ninety = []
        for _, run in group.groupby("seed"):
            final = run["score"].iloc[-1]
            if final > 0:
                to_ninety.append(run.loc[run["score"] >= 0.9 * final, "states"].iloc[0])
        row = {"market": market, "algorithm": algorithm, "seeds": len(finals),
               "final_net_skill": finals["score"].mean(),
               "final_net_skill_std": finals["score"].std(),
               "states_to_90pct_of_final": np.median(to_ninety) if to_ninety else np.nan,
               "seeds_positive": len(to_ninety),
               "approx_kl": finals["approx_kl"].mean(),
               "clip_fraction": finals["clip_fraction"].mean()}
        for budget in budgets:
            at = group[group["states"] >= budget].groupby("seed").first()["score"]
            row[f"net_skill_at_{budget // 1000}k"] = at.mean() if len(at) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _claims_job(job: tuple[str, str, int, int, int]) -> list[dict]:
    market, algorithm, seed, states, every = job
    torch.set_num_threads(1)  # runs share the cores, one process each
    return run_ours(algorithm, Market(market), seed, states, every)


def run_claims(markets: list[str], algorithms: list[str], seeds: int, states: int,
               every: int, workers: int) -> pd.DataFrame:
    """Every (market, algorithm, seed) run's curve, the runs spread over ``workers``
    processes."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    jobs = [(m, a, s, states, every) for m in markets for a in algorithms for s in range(seeds)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(_claims_job, jobs))
    return pd.DataFrame([row for rows in runs for row in rows])


def plot_claims(curves: pd.DataFrame, path: Path) -> None:
    """Net skill against market states per market: each algorithm's mean over seeds with
    its range shaded."""
    from matplotlib.figure import Figure

    markets = list(dict.fromkeys(curves["market"]))
    fig = Figure(figsize=(5 * len(markets), 3.8))
    axes = fig.subplots(1, len(markets), squeeze=False)[0]
    for ax, market in zip(axes, markets, strict=True):
        for algorithm, group in curves[curves["market"] == market].groupby("algorithm",
                                                                           sort=False):
            by_states = group.groupby("states")["score"]
            ax.plot(by_states.mean().index, by_states.mean(), label=algorithm)
            ax.fill_between(by_states.mean().index, by_states.min(), by_states.max(),
                            alpha=0.15)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_title(f"{market}: net skill (0: 1/N, 1: the oracle)")
        ax.set_xlabel("market states visited")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))


def throughput(market: str, states: int = 8192) -> pd.DataFrame:
    """Training states per second at the same number of epochs (10) on one market:
    SB3 PPO with its defaults (2,048 states per update, minibatches of 64), and ours
    with 2,048 states per update (64 episodes x 32 steps), both at minibatches of 64
    and at 4 minibatches (our default count), eager and compiled (timed after a first
    update, which is when the compiling happens)."""
    from stable_baselines3 import PPO

    spec = EnvSpec.load(SPECS[market])
    sim = spec.build_sim(dtype=torch.float32)
    rows = []
    model = PPO("MlpPolicy", PortfolioEnv(sim, spec.build_reward()), n_epochs=10,
                device="cpu", seed=0)
    start = time.perf_counter()
    model.learn(states)
    rows.append({"market": market, "algorithm": "sb3_ppo", "minibatch": "64 states",
                 "compiled": False, "states_per_second": states / (time.perf_counter() - start)})
    for algorithm in ("ppo", "grpo", "hybrid_grpo"):
        for minibatches, label in ((32, "64 states"), (4, "4 per update")):
            for compiled in (False, True):
                config = agent_config({"algorithm": algorithm, "n_envs": 64, "n_steps": 32,
                                       "epochs": 10, "minibatches": minibatches,
                                       "compile": compiled})
                agent = make_agent(sim, config)
                agent.learn(config.states_per_iteration)  # compiles, if it is to
                start = time.perf_counter()
                agent.learn(states + config.states_per_iteration)
                rows.append({"market": market, "algorithm": algorithm, "minibatch": label,
                             "compiled": compiled,
                             "states_per_second": states / (time.perf_counter() - start)})
    table = pd.DataFrame(rows)
    table["vs_sb3_ppo"] = table["states_per_second"] / table["states_per_second"].iloc[0]
    return table


class _AblationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: str  # env spec, relative to the clone's root
    states: int = Field(ge=1)  # market states each variant trains on
    variants: dict[str, dict] = Field(min_length=1)  # name: agent hyperparameters


@dataclass(frozen=True)
class Ablation:
    """An ablation spec: variants of an agent, each trained on one market's first 70%."""

    path: Path
    env: str
    states: int
    variants: dict[str, AgentConfig]


def load_ablation(name: str) -> Ablation:
    """``bench/specs/ablations/<name>.toml``, every variant validated as an agent config."""
    path = ABLATIONS[name]
    spec = load_spec(path, _AblationFile)
    variants = {label: agent_config(options, f"{path}: variants.{label}")
                for label, options in spec.variants.items()}
    return Ablation(path, spec.env, spec.states, variants)


def _variant_runs(study: Ablation, variant: str, seeds: int) -> list[dict]:
    """One variant's seeds trained together as a population (one thread: the pool's
    workers share the cores), each scored on the held-out days gross and net of the
    env's costs, with its turnover and the last iterations' within-group share of its
    advantages where the algorithm logs it."""
    torch.set_num_threads(1)
    spec = EnvSpec.load(study.env)
    truth = spec.load_market()
    split = truth.panel.dates[int(len(truth.panel) * 0.7)]
    train = spec.build_sim(truth.panel.slice(None, split), dtype=torch.float32)
    full = spec.build_sim(truth.panel)
    config = study.variants[variant]
    agents = [make_agent(train, config.model_copy(update={"seed": seed}), spec.build_reward())
              for seed in range(seeds)]
    Population(agents).learn(study.states)
    rows = []
    for seed, agent in enumerate(agents):
        path = allocation_path(agent, full, split)
        costs = truth.trading_costs(path, 1.0)  # per bp: the one-way turnover a day
        share = [m["within_group_share"] for m in agent.history[-10:]
                 if "within_group_share" in m]
        rows.append({"variant": variant, "seed": seed, "skill": truth.skill(path),
                     "net_skill": truth.skill(path, cost_bps=_cost_bps(spec)),
                     "turnover": float(costs.iloc[1:].mean() * 1e4 / 2 * 252),
                     "within_group_share": float(np.mean(share)) if share else np.nan})
    return rows


def _cost_bps(spec: EnvSpec) -> float:
    bps = spec.costs.bps
    return float(np.mean(bps)) if isinstance(bps, list) else float(bps)


def ablation(name: str, seeds: int = 3, workers: int = 2) -> pd.DataFrame:
    """Held-out skill of each variant of an ablation over seeds, gross and net of the
    env's costs (the oracle and 1/N charged alike), with the one-way turnover a year;
    variants run in ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    study = load_ablation(name)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(_variant_runs, [study] * len(study.variants),
                             list(study.variants), [seeds] * len(study.variants)))
    frame = pd.DataFrame([row for rows in runs for row in rows])
    table = frame.groupby("variant", sort=False).agg(
        skill=("skill", "mean"), skill_std=("skill", "std"),
        net_skill=("net_skill", "mean"), net_skill_std=("net_skill", "std"),
        net_min=("net_skill", "min"), net_max=("net_skill", "max"),
        turnover=("turnover", "mean"), within_group_share=("within_group_share", "mean"))
    return table.reset_index().rename(columns={"variant": name})


def plot(curves: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    markets = list(dict.fromkeys(curves["market"]))
    fig, axes = plt.subplots(len(markets), 3, figsize=(15, 3.4 * len(markets)), squeeze=False)
    for row, market in enumerate(markets):
        for col, x in enumerate(("states", "actions_scored", "train_seconds")):
            ax = axes[row, col]
            for algorithm, group in curves[curves["market"] == market].groupby("algorithm"):
                mean = group.groupby(x if x != "train_seconds" else "states")["score"].mean()
                xs = mean.index if x != "train_seconds" else \
                    group.groupby("states")["train_seconds"].mean()
                ax.plot(xs, mean.to_numpy(), label=algorithm)
            ax.set_xscale("log" if x != "states" else "linear")
            if x == "states":
                ax.xaxis.set_major_formatter(EngFormatter())  # 200k, not 200000
            ax.set_xlabel(x.replace("_", " "))
            ax.set_ylabel(f"{market}: " + ("skill" if market != "sample" else
                                           "excess growth vs 1/N"))
            ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=30_000, help="market states per run")
    parser.add_argument("--seeds", type=int, help="seeds per run (default: 5; 3 for an "
                        "ablation)")
    parser.add_argument("--markets", default="iid,regime,signal,sample")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help=f"from {', '.join([*AGENTS, *SB3_AGENTS])}")
    parser.add_argument("--days", type=int, help="length of the synthetic paths (default: spec)")
    parser.add_argument("--score-every", type=int, default=2560,
                        help="market states between held-out scores")
    parser.add_argument("--ablation", choices=tuple(ABLATIONS),
                        help="run only this ablation instead of the curves")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in this run's curves CSV; run the rest")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes an ablation's variants run in")
    parser.add_argument("--claims", action="store_true",
                        help="the paper's claims: curves of net skill on the known-optimum "
                             "markets, runs spread over --workers processes")
    parser.add_argument("--throughput", action="store_true",
                        help="measure only training throughput against SB3 PPO")
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.seeds = args.seeds if args.ablation else args.seeds or 5
    RESULTS.mkdir(exist_ok=True)
    if args.ablation:
        table = ablation(args.ablation, args.seeds or 3, args.workers)
        seeds = "" if args.seeds is None else f" --seeds {args.seeds}"
        atomic_write_text(
            RESULTS / f"agents_{args.ablation}.md",
            f"Command: python bench/agents.py --ablation {args.ablation}{seeds}\n\n"
            f"Spec: bench/specs/ablations/{args.ablation}.toml\n\n"
            "Skill on the held-out 30%: (growth - 1/N's) / (oracle's - 1/N's), mean and "
            "std over seeds; net_skill charges every path (the oracle's and 1/N's too) "
            "the env's costs on what it trades; turnover: one-way, a year; "
            "within_group_share: the share of the per-sample advantages' variance that "
            "lies within a state's group (Hybrid GRPO, last 10 iterations).\n\n"
            + table.to_markdown(index=False, floatfmt=".3f") + "\n")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    if args.claims:
        markets = [m for m in args.markets.split(",") if m != "sample"]
        algorithms = args.algorithms.split(",")
        curves = run_claims(markets, algorithms, args.seeds, args.states, args.score_every,
                            args.workers)
        table = paper_claims(curves)
        atomic_write(RESULTS / "paper_claims_curves.csv",
                     lambda tmp: curves.to_csv(tmp, index=False))
        atomic_write_text(
            RESULTS / "paper_claims.md",
            f"Command: python bench/agents.py --claims --states {args.states} "
            f"--seeds {args.seeds} --markets {','.join(markets)} --algorithms "
            f"{args.algorithms} --score-every {args.score_every} --workers {args.workers}\n\n"
            f"Specs: {', '.join(str(agent_spec(a)) for a in algorithms)}\n\n"
            "Net skill on the held-out 30% (0: 1/N, 1: the oracle; every path charged the "
            "env's costs), mean and std over seeds; states_to_90pct_of_final: market "
            "states to 90% of the run's own final skill (median over seeds that end "
            "positive); approx_kl, clip_fraction: means over the updates.\n\n"
            + table.to_markdown(index=False, floatfmt=".3g") + "\n")
        plot_claims(curves, RESULTS / "paper_claims.png")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        return
    if args.throughput:
        speed = pd.concat([throughput(market) for market in ("iid", "sample")])
        atomic_write(RESULTS / "agents_throughput.csv",
                     lambda tmp: speed.to_csv(tmp, index=False))
        atomic_write_text(
            RESULTS / "agents_throughput.md",
            "Command: python bench/agents.py --throughput\n\n"
            "States per second at 10 epochs, 2,048 states per update:\n\n"
            + speed.to_markdown(index=False, floatfmt=".3g") + "\n")
        print(speed.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        return
    name_of_run = "agents" if args.days is None else \
        f"agents_{args.days}d_{args.states // 1000}k"
    curves_path = RESULTS / f"{name_of_run}_curves.csv"
    curves = pd.read_csv(curves_path) if args.resume and curves_path.exists() else None
    done = set() if curves is None else set(
        curves[["market", "algorithm", "seed"]].itertuples(index=False, name=None))
    for name in args.markets.split(","):
        market = Market(name, args.days)
        for algorithm in args.algorithms.split(","):
            for seed in range(args.seeds):
                if (name, algorithm, seed) in done:
                    continue
                start = time.perf_counter()
                if algorithm in SB3_AGENTS:
                    rows = run_sb3(algorithm, market, seed, args.states, args.score_every)
                else:
                    rows = run_ours(algorithm, market, seed, args.states, args.score_every)
                curves = pd.concat([curves, pd.DataFrame(rows)], ignore_index=True)
                atomic_write(curves_path, lambda tmp, frame=curves: frame.to_csv(tmp, index=False))
                print(f"{name:7s} {algorithm:12s} seed {seed}: score {rows[-1]['score']:+.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    table = summarise(curves)
    atomic_write(RESULTS / f"{name_of_run}.csv", lambda tmp: table.to_csv(tmp, index=False))
    days = "" if args.days is None else f" --days {args.days}"
    specs = [f"bench/specs/{'agents' if name in AGENTS else 'sb3'}/{name}.toml"
             for name in args.algorithms.split(",")]
    atomic_write_text(
        RESULTS / f"{name_of_run}.md",
        f"Command: python bench/agents.py --states {args.states} --seeds {args.seeds} "
        f"--markets {args.markets} --algorithms {args.algorithms} "
        f"--score-every {args.score_every}{days}\n\n"
        f"Specs: {', '.join(specs)}\n\n"
        + table.to_markdown(index=False, floatfmt=".3g") + "\n")
    plot(curves, RESULTS / f"{name_of_run}.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
