"""Walk-forward backtests: engine, splits, risk metrics, results, reports, executors.

Sweeps live in ``fin_hgrpo.backtest.sweep``.
"""

from fin_hgrpo.backtest.config import BacktestSpec
from fin_hgrpo.backtest.engine import Position, StrategyRun, rebalance_days, run_strategy
from fin_hgrpo.backtest.executors import Executor, LocalExecutor, RayExecutor, make_executor
from fin_hgrpo.backtest.report import write_report, write_tearsheets
from fin_hgrpo.backtest.results import BacktestResult, read_results
from fin_hgrpo.backtest.runner import run_backtest, save_backtest
from fin_hgrpo.backtest.walkforward import Fold, WalkForward

__all__ = [
    "BacktestResult",
    "BacktestSpec",
    "Executor",
    "Fold",
    "LocalExecutor",
    "Position",
    "RayExecutor",
    "StrategyRun",
    "WalkForward",
    "make_executor",
    "read_results",
    "rebalance_days",
    "run_backtest",
    "run_strategy",
    "save_backtest",
    "write_report",
    "write_tearsheets",
]
