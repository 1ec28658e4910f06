"""The agents' scores inside their training windows: what a change to training is judged
by, so that no default is chosen on the test years.

    python bench/validation_scores.py RESULTS_DIR [RESULTS_DIR ...] [--validation-days 126]

For each backtest results folder and each agent, every (seed, fold) member's early-
stopping score is read from ``training/<run>_fold<k>.csv``: the best log growth of its
deterministic policy on the held-out last days of its training window (the networks
it kept). Per seed, the mean over folds, annualised (x 252 / validation days); printed
as the mean ± std over seeds, with the out-of-sample Sharpe and turnover beside it for
information only.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

_RUN = re.compile(r"^(?P<run>.+_seed\d+)_fold(?P<fold>\d+)\.csv$")


def validation_scores(folder: Path, days: int) -> pd.DataFrame:
    """One row per (strategy, seed): mean over folds of the best validation log growth,
    annualised."""
    rows = []
    for path in sorted((folder / "training").glob("*_fold*.csv")):
        match = _RUN.match(path.name)
        if match is None:
            continue
        scores = pd.read_csv(path).get("validation_log_growth")
        if scores is None or scores.dropna().empty:
            continue
        run = match["run"]
        rows.append({"run": run, "strategy": run.rsplit("_seed", 1)[0],
                     "fold": int(match["fold"]), "score": scores.max() * 252 / days})
    table = pd.DataFrame(rows)
    return table.groupby(["strategy", "run"])["score"].mean().reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--validation-days", type=int, default=126,
                        help="the agents' validation_days in the backtest spec")
    args = parser.parse_args()
    days = args.validation_days
    for name in args.folders:
        folder = Path(name)
        seeds = pd.read_csv(folder / "seeds.csv", index_col=0)
        print(f"{folder} (validation days {days})")
        print(f"  {'agent':<14}{'validation log growth / yr':>30}{'test Sharpe':>16}"
              f"{'turnover / yr':>16}")
        for strategy, group in validation_scores(folder, days).groupby("strategy"):
            runs = seeds[seeds["strategy"] == strategy]
            print(f"  {strategy:<14}{group['score'].mean():>+18.3f} ± {group['score'].std():.3f}"
                  f" ({len(group)}){runs['sharpe'].mean():>10.2f} ± {runs['sharpe'].std():.2f}"
                  f"{np.mean(runs['turnover']):>12.1f}")


if __name__ == "__main__":
    main()
