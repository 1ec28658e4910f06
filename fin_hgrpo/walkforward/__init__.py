"""Running a walk-forward: the spec, the folds, the engine that runs a strategy over a
window, the tasks an executor runs (with checkpoints), and the results they gather.

``fin_hgrpo.backtest`` puts these together into ``run_backtest``; study designs over
runs live in ``fin_hgrpo.studies``, what a run shows in ``fin_hgrpo.reports``, acting
after it in ``fin_hgrpo.deploy``.
"""
