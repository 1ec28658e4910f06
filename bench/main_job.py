"""Where the main job's time goes: ``fin-hgrpo backtest`` run in this process (one
worker, so that every stage is timed where it runs), its stages summed over the run.

    python bench/main_job.py [--spec backtests/default.toml] [--seeds 0-4] [--quick]

Stages: loading the data; training the agents (their populations' iterations, less
the validation runs inside training), the validation runs; the test runs through the
engine, agents' and classical strategies' apart; the metrics; the report page; the
tearsheets; the risk reports. On 2 workers the training and test stages run two at a
time: the wall-clock is about the sum here over the workers, plus the rest. Prints a
table and writes bench/results/main_job[_quick].md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from timing import Clock  # bench/timing.py: scripts run from bench/

import fin_hgrpo.risk
from fin_hgrpo.backtest import runner
from fin_hgrpo.cli import main as cli
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.io import atomic_write_text
from fin_hgrpo.strategies.ensemble import SeedEnsemble
from fin_hgrpo.strategies.rl import RLStrategy, Validation
from fin_hgrpo.walkforward import tasks

RESULTS = Path(__file__).parent / "results"
STAGES = ("load data", "train agents", "validation inside training", "test runs: agents",
          "test runs: classical", "metrics", "report page", "tearsheets", "risk reports")


def _test_stage(strategy, *_) -> str:
    agent = isinstance(strategy, RLStrategy | SeedEnsemble)
    return "test runs: agents" if agent else "test runs: classical"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="backtests/default.toml")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    clock = Clock()
    clock.wrap(EnvSpec, "load_panel", "load data")
    clock.wrap(tasks, "fit_population", "train agents")
    clock.wrap(Validation, "scores", "validation inside training")
    clock.wrap(tasks, "_run_test", _test_stage)  # a strategy alone
    clock.wrap(tasks, "_test_agents", "test runs: agents")  # an agent's runs side by side
    clock.wrap(runner, "gather", "metrics")
    clock.wrap(runner, "write_report", "report page")
    clock.wrap(runner, "write_tearsheets", "tearsheets")
    clock.wrap(fin_hgrpo.risk, "write_risk_reports", "risk reports")
    with tempfile.TemporaryDirectory() as folder:
        argv = ["backtest", args.spec, "--workers", "1", "--seeds", args.seeds,
                "--out", str(Path(folder) / "run"), *(["--quick"] if args.quick else [])]
        started = time.perf_counter()
        assert cli(argv) == 0
        total = time.perf_counter() - started
    seconds = dict(clock.seconds)
    rest = total - sum(seconds.values())
    lines = [f"Command: python bench/main_job.py --spec {args.spec} --seeds {args.seeds}"
             + (" --quick" if args.quick else ""),
             f"`fin-hgrpo {' '.join(argv[:6])}` in one process: "
             f"{total:,.0f} s", "", "| stage | seconds | share |", "|---|---:|---:|"]
    for stage in STAGES:
        lines.append(f"| {stage} | {seconds.get(stage, 0.0):,.1f} | "
                     f"{seconds.get(stage, 0.0) / total:.1%} |")
    lines.append(f"| the rest (planning, scheduling, writing files) | {rest:,.1f} | "
                 f"{rest / total:.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(RESULTS / f"main_job{'_quick' if args.quick else ''}.md", text)


if __name__ == "__main__":
    main()
