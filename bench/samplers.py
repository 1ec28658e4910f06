"""TPE against random search at an equal budget, on a sweep whose good region is known.

    python bench/samplers.py [--seeds 0-4] [--out bench/results/samplers.md]

The sweep ``bench/specs/sweeps/samplers.toml`` searches 16 trials (4 a round) over the
base a small Hybrid GRPO tilts (1/N or cash) and its trade rate, on a 3-asset i.i.d.
market at 50 bps a trade. Tilting cash is the known bad half: its near-random trades
are large against what it holds, so every such trial's validation Sharpe is below
every trial tilting 1/N. Each sampler runs the study once per study seed (no
pruning); the table gives, per sampler, the share of trials spent in the good half
after the first round (the start-up, random for both), the best validation Sharpe
found and the mean over trials, each as the mean over study seeds with its spread.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.studies.sweep import SweepSpec, run_sweep

SPEC = "bench/specs/sweeps/samplers.toml"


def study(search: str, seed: int, spec_path: str = SPEC) -> pd.DataFrame:
    """One study's trials, in the order they were asked."""
    spec = SweepSpec.load(spec_path).model_copy(update={"search": search, "seed": seed})
    with tempfile.TemporaryDirectory() as out:
        trials = run_sweep(spec, out, progress=False).trials
    return trials.sort_values("trial").reset_index(drop=True)


def scores(trials: pd.DataFrame, parallel: int) -> dict[str, float]:
    """The share of trials after the first round that tilt 1/N, the best and the mean
    validation Sharpe."""
    after = trials.iloc[parallel:]
    return {"good_share": float((after["base"] == "equal_weight").mean()),
            "best": float(trials["val_sharpe"].max()),
            "mean": float(trials["val_sharpe"].mean())}


def compare(seeds: list[int], spec_path: str = SPEC) -> pd.DataFrame:
    """Each sampler's scores per study seed."""
    parallel = SweepSpec.load(spec_path).parallel
    rows = [{"search": search, "seed": seed, **scores(study(search, seed, spec_path), parallel)}
            for search in ("tpe", "random") for seed in seeds]
    return pd.DataFrame(rows)


def table(results: pd.DataFrame) -> str:
    """Mean ± std over study seeds, per sampler, as markdown."""
    lines = ["| search | trials in the good half after round 1 | best val. Sharpe | "
             "mean val. Sharpe |", "|---|---|---|---|"]
    for search, group in results.groupby("search", sort=False):
        cells = [f"{group[c].mean():.3f} ± {group[c].std(ddof=1):.3f}"
                 for c in ("good_share", "best", "mean")]
        lines.append(f"| {search} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-4", help="study seeds, e.g. 0-4")
    parser.add_argument("--out", help="also write the table here (markdown)")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = list(range(int(first), int(last or first) + 1))
    results = compare(seeds)
    shown = table(results)
    tpe = results[results["search"] == "tpe"]["good_share"].to_numpy()
    rand = results[results["search"] == "random"]["good_share"].to_numpy()
    shown += (f"\n\nTPE spent {np.mean(tpe):.0%} of its trials after the first round in the "
              f"good half, random search {np.mean(rand):.0%}, over {len(seeds)} study seeds.")
    print(shown)
    if args.out:
        Path(args.out).write_text(shown + "\n")


if __name__ == "__main__":
    main()
