"""The agents' scores inside their training windows: what a change to training is judged
by, so that no default is chosen on the test years.

    python bench/validation_scores.py RESULTS_DIR [RESULTS_DIR ...] [--validation-days 126]
                                      [--every K]

For each backtest results folder and each agent, every (seed, fold) member's early-
stopping score is read from ``training/<run>_fold<k>.csv``: the best log growth of its
deterministic policy on the held-out last days of its training window (the networks
it kept). Per seed, the mean over folds, annualised (x 252 / validation days); printed
as the mean ± std over seeds, with the out-of-sample Sharpe and turnover beside it for
information only. The best of a member's validations flatters a policy whose
validations vary more, and one validated more often (it draws a higher best by
chance), so the mean over all of its validations and the last one (the networks
training ended with) are printed beside it, with the validations a fold; 1/N's log
growth on the same validation days (through the same engine and costs) is the
yardstick for all three. ``--every K`` keeps every K-th validation and the last (a
policy validated more often, seen as often as one validated less).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

_RUN = re.compile(r"^(?P<run>.+_seed\d+)_fold(?P<fold>\d+)\.csv$")


def validation_scores(folder: Path, days: int, every: int = 1) -> pd.DataFrame:
    """One row per (strategy, seed): mean over folds of the best validation log growth
    (``score``), of the mean over validations (``mean``) and of the last one
    (``last``), annualised, and the validations a fold (``count``)."""
    rows = []
    for path in sorted((folder / "training").glob("*_fold*.csv")):
        match = _RUN.match(path.name)
        if match is None:
            continue
        scores = pd.read_csv(path).get("validation_log_growth")
        if scores is None or scores.dropna().empty:
            continue
        run = match["run"]
        scores = scores.dropna() * 252 / days
        if every > 1:
            scores = pd.concat([scores.iloc[every - 1::every], scores.iloc[-1:]])
            scores = scores[~scores.index.duplicated()]
        rows.append({"run": run, "strategy": run.rsplit("_seed", 1)[0],
                     "fold": int(match["fold"]), "score": scores.max(),
                     "mean": scores.mean(), "last": scores.iloc[-1], "count": len(scores)})
    table = pd.DataFrame(rows)
    return table.groupby(["strategy", "run"])[["score", "mean", "last", "count"]].mean() \
        .reset_index()


def equal_weight_score(folder: Path, days: int) -> float:
    """1/N's log growth on each fold's validation days (cash at first, daily), mean over
    the folds, annualised as the agents' scores are."""
    from fin_hgrpo.envs import EnvSpec
    from fin_hgrpo.strategies import EqualWeight
    from fin_hgrpo.walkforward.engine import run_strategy

    info = json.loads((folder / "run.json").read_text())
    env = EnvSpec.load(info["env"])
    panel = env.load_panel()
    folds = pd.read_csv(folder / "folds.csv").drop_duplicates("fold")
    scores = []
    for row in folds.itertuples():
        sim = env.build_sim(panel.slice(row.train_start, row.train_end))
        first = max(sim.last_decision - days + 1, sim.first_decision)
        run = run_strategy(EqualWeight(), sim, first, sim.last_decision)
        scores.append(float(np.log1p(run.daily["net_return"]).sum()) * 252 / days)
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--validation-days", type=int, default=126,
                        help="the agents' validation_days in the backtest spec")
    parser.add_argument("--every", type=int, default=1,
                        help="keep every K-th validation and the last")
    args = parser.parse_args()
    days = args.validation_days
    for name in args.folders:
        folder = Path(name)
        seeds = pd.read_csv(folder / "seeds.csv", index_col=0)
        print(f"{folder} (validation days {days})")
        print(f"  {'agent':<14}{'validation log growth / yr: best':>34}{'mean':>18}"
              f"{'last':>18}{'a fold':>8}{'test Sharpe':>16}{'turnover / yr':>16}")
        for strategy, group in validation_scores(folder, days, args.every).groupby("strategy"):
            runs = seeds[seeds["strategy"] == strategy]
            print(f"  {strategy:<14}{group['score'].mean():>+22.3f} ± {group['score'].std():.3f}"
                  f" ({len(group)}){group['mean'].mean():>+10.3f} ± {group['mean'].std():.3f}"
                  f"{group['last'].mean():>+11.3f} ± {group['last'].std():.3f}"
                  f"{group['count'].mean():>8.1f}"
                  f"{runs['sharpe'].mean():>10.2f} ± {runs['sharpe'].std():.2f}"
                  f"{np.mean(runs['turnover']):>12.1f}")
        print(f"  {'1/N':<14}{equal_weight_score(folder, days):>+22.3f}")


if __name__ == "__main__":
    main()
