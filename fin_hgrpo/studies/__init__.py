"""Designs built on walk-forward runs: selection rules over candidates, combinatorial
purged cross-validation, sweeps searched by an Optuna study, random universes, and the
overfitting measures (PBO, deflated Sharpe) that judge them."""
