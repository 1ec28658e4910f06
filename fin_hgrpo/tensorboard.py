"""Training metrics as TensorBoard runs, where RL users look (the ``tensorboard`` extra).

Every metric an agent logs per iteration (losses, entropy, KL, clip fraction, explained
variance, rewards, learning rate, throughput, validation scores) becomes a scalar under
``train/``, against the market states seen so far, as stable-baselines3 plots against
timesteps. One TensorBoard run per trained network: ``<run>`` for ``fin-hgrpo train``,
``<run>/<member>`` for a population, ``<backtest>/<run>_fold<k>`` for a backtest or a
sweep. The CSV logs stay the record; these are for watching and comparing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from fin_hgrpo.errors import FinHgrpoError

STEP = "states"  # the x axis: market states seen


def summary_writer(logdir: str | Path) -> Any:
    """A ``SummaryWriter`` for one run; a clear error if TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise FinHgrpoError("--tensorboard needs TensorBoard: pip install "
                            "'fin-hgrpo[tensorboard]'") from None
    return SummaryWriter(log_dir=str(logdir))


def log_iteration(writer: Any, metrics: dict[str, Any]) -> None:
    """One iteration's numeric metrics, at its count of states seen."""
    step = int(metrics[STEP])
    for key, value in metrics.items():
        if key != STEP and isinstance(value, int | float) and math.isfinite(value):
            writer.add_scalar(f"train/{key}", value, step)


def write_log(logdir: str | Path, log: pd.DataFrame) -> None:
    """A finished training log (one row per iteration) as one TensorBoard run."""
    writer = summary_writer(logdir)
    try:
        for row in log.to_dict("records"):
            log_iteration(writer, row)
    finally:
        writer.close()


def write_training_logs(logdir: str | Path, logs: Iterable[tuple[str, pd.DataFrame]]) -> None:
    """Each ``(name, log)`` as the run ``logdir/name``."""
    for name, log in logs:
        write_log(Path(logdir) / name, log)
