"""Walk-forward backtests: engine, splits, results, reports, executors.

Sweeps live in ``fin_hgrpo.backtest.sweep``, target weights after a backtest in
``fin_hgrpo.backtest.targets``, selection rules in ``fin_hgrpo.backtest.selection``,
combinatorial purged cross-validation in ``fin_hgrpo.backtest.cpcv``.
"""

from fin_hgrpo.backtest.config import BacktestSpec, CvSpec
from fin_hgrpo.backtest.engine import StrategyRun, run_strategy
from fin_hgrpo.backtest.executors import Executor, LocalExecutor, RayExecutor, make_executor
from fin_hgrpo.backtest.report import write_report, write_tearsheets
from fin_hgrpo.backtest.results import BacktestResult
from fin_hgrpo.backtest.runner import run_backtest, save_backtest
from fin_hgrpo.backtest.walkforward import Fold, WalkForward
from fin_hgrpo.envs.trading import Position

__all__ = [
    "BacktestResult",
    "BacktestSpec",
    "CvSpec",
    "Executor",
    "Fold",
    "LocalExecutor",
    "Position",
    "RayExecutor",
    "StrategyRun",
    "WalkForward",
    "make_executor",
    "run_backtest",
    "run_strategy",
    "save_backtest",
    "write_report",
    "write_tearsheets",
]
