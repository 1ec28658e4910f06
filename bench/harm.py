"""The agents against 1/N, raw and shrunk: the figures the no-harm targets are read from.

    python bench/harm.py RESULTS_DIR [RESULTS_DIR ...]

For a backtest's folder, one row per agent strategy (its runs, its ensemble, their
shrunk twins): the seeds' Sharpe (mean ± std), the difference against the baseline
with its 95% interval, turnover a year, active share, the harm figures of
``metrics.csv`` (worst 3 years' Sharpe difference, share of test folds beaten, share
of seeds below the baseline) and the net skill: the annualised log growth less the
baseline's over the same days, net of costs, the mean over seeds. Each shrunk
strategy's net skill is also given as a share of its raw strategy's (what it kept).
For a many-universes folder (``summary.csv``), the rows of its summary across
universes instead, with each universe's seed-mean Sharpe difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

PERIODS = 252


def net_skill(folder: Path, baseline: str) -> pd.Series:
    """Per strategy: the mean over its runs of the annualised log growth less the
    baseline's, over the days both hold."""
    returns = pd.read_csv(folder / "returns.csv", index_col=0, parse_dates=True)
    seeds = pd.read_csv(folder / "seeds.csv", index_col="run")
    growth = np.log1p(returns)
    active = growth.sub(growth[baseline], axis=0)
    per_run = active.mean() * PERIODS
    return per_run.groupby(seeds["strategy"]).mean()


def agents_table(folder: Path) -> pd.DataFrame:
    """The agent strategies' rows of a backtest's folder, with their net skill."""
    metrics = pd.read_csv(folder / "metrics.csv", index_col="strategy")
    seeds = pd.read_csv(folder / "seeds.csv", index_col="run")
    baseline = next(s for s in metrics.index if s == "equal_weight")
    trained = set(seeds.loc[seeds["seed"].notna(), "strategy"])
    agents = [s for s in metrics.index if s in trained
              or s.removesuffix("_ensemble") in trained]
    skill = net_skill(folder, baseline)
    rows = []
    for name in agents:
        row = metrics.loc[name]
        raw = name.replace("_shrunk", "")
        kept = skill[name] / skill[raw] if "_shrunk" in name and skill[raw] > 0 else np.nan
        rows.append({
            "strategy": name,
            "sharpe": f"{row['sharpe_seed_mean']:.2f} ± {row['sharpe_seed_std']:.2f}",
            "vs 1/N [95%]": f"{row['sharpe_vs_baseline']:+.2f} "
                            f"[{row['sharpe_vs_baseline_low']:+.2f}, "
                            f"{row['sharpe_vs_baseline_high']:+.2f}]",
            "turnover": round(row["turnover"], 1),
            "active share": f"{row['active_share']:.0%}",
            "worst 3y": round(row.get("worst_3y_vs_baseline", np.nan), 2),
            "folds beaten": f"{row.get('folds_beaten', np.nan):.0%}",
            "seeds below": f"{row.get('seeds_below_baseline', np.nan):.0%}",
            "net skill / yr": f"{skill[name]:+.4f}",
            "kept": "" if np.isnan(kept) else f"{kept:.0%}",
        })
    rows.append({"strategy": baseline, "sharpe": f"{metrics.loc[baseline, 'sharpe']:.2f}"})
    return pd.DataFrame(rows).set_index("strategy").fillna("")


def universes_table(folder: Path) -> pd.DataFrame:
    """The agent strategies' rows of a many-universes summary, and each universe's
    Sharpe difference against the baseline (the mean over seeds)."""
    summary = pd.read_csv(folder / "summary.csv", index_col=0)
    by_universe = pd.read_csv(folder / "by_universe.csv")
    agents = [s for s in summary.index if any(k in s for k in ("grpo", "ppo"))]
    spread = by_universe[by_universe["strategy"].isin(agents)].pivot_table(
        index="strategy", columns="universe", values="difference")
    return summary.loc[agents].join(spread.round(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        for folder in args.folders:
            print(folder)
            table = universes_table(folder) if (folder / "summary.csv").is_file() \
                else agents_table(folder)
            print(table.to_string())
            print()


if __name__ == "__main__":
    main()
