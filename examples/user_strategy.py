"""A user's own strategy, backtested walk-forward beside the classical baselines.

``LowVolatility`` learns in ``fit`` (the training window only) which assets were the
calmest, and holds them in equal weights; a backtest spec names it by file and class::

    [[strategies]]
    kind = "custom"
    path = "examples/user_strategy.py:LowVolatility"
    params = { count = 5 }

Run it in a workspace (the clone after ``make``, or a folder from ``fin-hgrpo init``)::

    python examples/user_strategy.py              # about a minute
    python examples/user_strategy.py --folds 2    # a smoke run (what CI runs)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.strategies import Decision, Strategy


class LowVolatility(Strategy):
    """Equal weights on the ``count`` assets with the lowest volatility in training."""

    name = "low_volatility"

    def __init__(self, count: int = 5) -> None:
        self.count = count
        self.chosen: list[str] = []

    def fit(self, train: MarketPanel) -> None:
        volatility = train.prices.pct_change().std()
        self.chosen = list(volatility.nsmallest(self.count).index)

    def weights(self, decision: Decision) -> np.ndarray:
        held = np.isin(decision.tickers, self.chosen) & decision.tradable
        weights = np.zeros(len(decision.tickers) + 1)
        if held.any():
            weights[:-1][held] = 1.0 / held.sum()
        else:
            weights[-1] = 1.0  # nothing chosen is tradable: stay in cash
        return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, help="last walk-forward folds to run (all)")
    parser.add_argument("--out", default="backtests/results/user_strategy")
    parser.add_argument("--workers", type=int, help="processes for the backtest (the cores)")
    args = parser.parse_args()

    spec = BacktestSpec.model_validate({
        "name": "user_strategy", "env": "envs/default.toml", "rebalance": "monthly",
        "tearsheets": False,
        "walk_forward": {"train_days": "3y", "test_days": "1y", "max_folds": args.folds},
        "strategies": [
            {"kind": "custom", "path": f"{Path(__file__).resolve()}:LowVolatility",
             "params": {"count": 5}},
            {"kind": "equal_weight"}, {"kind": "min_variance"},
            {"kind": "benchmark", "ticker": "SPY"}],
    })
    spec.check_files("user_strategy")  # names the key at fault, before any work
    result = run_backtest(spec, workers=args.workers, progress=False)
    print(result.metrics[["sharpe", "cagr", "max_drawdown", "turnover"]].round(2).to_string())
    print(f"report: {save_backtest(result, args.out, tearsheets=False) / 'report.html'}")


if __name__ == "__main__":
    main()
