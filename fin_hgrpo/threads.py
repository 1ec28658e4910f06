"""One thread for torch and for NumPy's BLAS: the same sums in the same order whatever
runs around it, so a backtest's task gives the same numbers on any executor, and the
target weights replayed after it give the backtest's own bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def one_thread() -> Iterator[None]:
    """One thread for torch and for NumPy's BLAS within."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
