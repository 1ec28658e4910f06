"""Walk-forward backtests from a spec: ``run_backtest`` runs every strategy over every
fold, ``save_backtest`` writes the folder and its report. What users import lives here.

The machinery is ``fin_hgrpo.walkforward`` (spec, folds, engine, tasks, executors,
results); designs over runs are ``fin_hgrpo.studies`` (selection rules, CPCV, sweeps,
universes); what a run shows is ``fin_hgrpo.reports``; target weights after a backtest
are ``fin_hgrpo.deploy``.
"""

from fin_hgrpo.backtest.runner import run_backtest, save_backtest
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.reports.backtest import write_report, write_tearsheets
from fin_hgrpo.walkforward.config import BacktestSpec, CvSpec
from fin_hgrpo.walkforward.engine import StrategyRun, run_strategy
from fin_hgrpo.walkforward.executors import Executor, LocalExecutor, RayExecutor, make_executor
from fin_hgrpo.walkforward.results import BacktestResult
from fin_hgrpo.walkforward.splits import Fold, WalkForward

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
