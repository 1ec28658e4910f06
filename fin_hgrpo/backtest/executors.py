"""Executors: where the tasks of a backtest run.

A task is a call ``fn(task, context, progress)``; ``context`` (the market panels and
the env spec) is handed to each worker once, not shipped with every task, and
``progress(kind, n)`` reports training iterations and finished folds back to the
progress bars. Results come back in the order of the tasks, whatever order they
finish in, so a run's files do not depend on the executor or the number of workers.
"""

from __future__ import annotations

import multiprocessing
import queue
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

Progress = Callable[[str, int], None]
TaskFunction = Callable[[Any, Any, Progress], Any]


class Executor(ABC):
    """Runs tasks and returns their results in task order."""

    @abstractmethod
    def map(self, fn: TaskFunction, tasks: Sequence, context: Any,
            progress: Progress) -> list: ...


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``spawn``ed: no state forked
    from the parent's threads); one worker runs the tasks in this process."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def map(self, fn: TaskFunction, tasks: Sequence, context: Any, progress: Progress) -> list:
        if self.workers == 1 or len(tasks) <= 1:
            return [fn(task, context, progress) for task in tasks]
        spawn = multiprocessing.get_context("spawn")
        messages = spawn.Queue()
        with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=spawn,
                                 initializer=_start_worker, initargs=(context, messages)) as pool:
            futures = [pool.submit(_run_in_worker, fn, task) for task in tasks]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(messages, progress)
            _drain(messages, progress)
            return [future.result() for future in futures]


_worker_context: Any = None
_worker_messages: Any = None


def _start_worker(context: Any, messages: Any) -> None:
    global _worker_context, _worker_messages
    _worker_context, _worker_messages = context, messages


def _run_in_worker(fn: TaskFunction, task: Any) -> Any:
    return fn(task, _worker_context, lambda kind, n: _worker_messages.put((kind, n)))


def _drain(messages: Any, progress: Progress) -> None:
    while True:
        try:
            kind, n = messages.get_nowait()
        except queue.Empty:
            return
        progress(kind, n)
