"""Executors: where the tasks of a backtest or a sweep run.

A task is a call ``fn(task, context, progress)``. ``context`` (the price panels and the
env spec) goes to each worker once, not with every task: to each process of the local
pool as it starts, into Ray's object store once per run. ``progress(kind, n)`` reports
training iterations and finished folds to the progress bars; ``on_result(i, result)``
hears of each task as it finishes (the runner saves it, so that an interrupted run can
restart where it stopped). ``map`` returns the results in task order, whatever order
they finished in, so a run's files depend neither on the executor nor on the workers.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from fin_hgrpo.errors import FinHgrpoError

Progress = Callable[[str, int], None]
OnResult = Callable[[int, Any], None]
TaskFunction = Callable[[Any, Any, Progress], Any]
_POLL_SECONDS = 0.2


class Executor(ABC):
    """Runs tasks and returns their results in task order."""

    @abstractmethod
    def map(self, fn: TaskFunction, tasks: Sequence, context: Any, progress: Progress,
            on_result: OnResult | None = None) -> list: ...


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``spawn``ed: no state forked
    from the parent's threads); one worker runs the tasks in this process. If a worker
    process dies (killed, out of memory) the pool is rebuilt and the unfinished tasks
    run again, at most ``max_retries`` times. Workers that die before they start are
    not retried: a spawned worker imports the parent's script first, so a script that
    runs a backtest at its top level, outside ``if __name__ == "__main__":``, starts
    it again in every worker, where starting processes is refused."""

    def __init__(self, workers: int = 1, *, max_retries: int = 3) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers, self.max_retries = workers, max_retries

    def map(self, fn: TaskFunction, tasks: Sequence, context: Any, progress: Progress,
            on_result: OnResult | None = None) -> list:
        results: list = [None] * len(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                results[i] = fn(task, context, progress)
                _tell(on_result, i, results[i])
            return results
        remaining = list(range(len(tasks)))
        for attempt in range(self.max_retries + 1):
            try:
                self._run_pool(fn, tasks, remaining, context, progress, on_result, results)
                return results
            except _NeverStarted as exc:
                raise FinHgrpoError(
                    "the worker processes died before they started. A script that runs a "
                    "backtest must do so under `if __name__ == \"__main__\":` (each "
                    "spawned worker imports the script first), or use workers=1; the "
                    "workers' own error is printed above") from exc.__cause__
            except BrokenProcessPool as exc:
                remaining = [i for i in remaining if results[i] is None]
                if attempt == self.max_retries:
                    raise FinHgrpoError(f"a worker process died {attempt + 1} times; "
                                        f"{len(remaining)} tasks did not finish") from exc
        return results

    def _run_pool(self, fn, tasks, indices, context, progress, on_result, results) -> None:
        spawn = multiprocessing.get_context("spawn")
        messages, started = spawn.Queue(), spawn.Event()
        try:
            with ProcessPoolExecutor(min(self.workers, len(indices)), mp_context=spawn,
                                     initializer=_start_worker,
                                     initargs=(context, messages, started)) as pool:
                futures = {pool.submit(_run_in_worker, fn, tasks[i]): i for i in indices}
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, timeout=_POLL_SECONDS,
                                         return_when=FIRST_COMPLETED)
                    _drain(messages.get_nowait, progress)
                    for future in done:
                        i = futures[future]
                        results[i] = future.result()
                        _tell(on_result, i, results[i])
        except BrokenProcessPool as exc:
            if not started.is_set():
                raise _NeverStarted() from exc
            raise
        _drain(messages.get_nowait, progress)  # the workers have exited: all sent is here


class RayExecutor(Executor):
    """Tasks as Ray tasks, on a running cluster (``address``) or a local Ray started here.

    Each task asks for ``cpus_per_task`` CPUs; a task lost with its worker or node is
    retried up to ``max_retries`` times (a strategy's own exception is not retried: the
    runner records it as that fold's result). ``runtime_env`` is passed to
    ``ray.init`` (e.g. ``{"working_dir": "."}`` to ship the specs to a cluster).
    """

    def __init__(self, address: str | None = None, *, cpus_per_task: float = 1.0,
                 max_retries: int = 3, runtime_env: dict | None = None,
                 num_cpus: int | None = None) -> None:
        self.address, self.cpus_per_task = address, cpus_per_task
        self.max_retries, self.runtime_env, self.num_cpus = max_retries, runtime_env, num_cpus

    def map(self, fn: TaskFunction, tasks: Sequence, context: Any, progress: Progress,
            on_result: OnResult | None = None) -> list:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise FinHgrpoError("the ray executor needs Ray: pip install -e '.[ray]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     runtime_env=self.runtime_env, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        try:
            messages = Queue()
            remote = ray.remote(_run_on_ray).options(num_cpus=self.cpus_per_task,
                                                     max_retries=self.max_retries)
            shared = ray.put(context)  # once per run, read by every task
            refs = {remote.remote(fn, task, shared, messages): i for i, task in enumerate(tasks)}
            results: list = [None] * len(tasks)
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=_POLL_SECONDS)
                _drain(lambda: messages.get_nowait(), progress, ray_queue=True)
                for ref in done:
                    i = refs[ref]
                    results[i] = ray.get(ref)
                    _tell(on_result, i, results[i])
            _drain(lambda: messages.get_nowait(), progress, ray_queue=True)
            messages.shutdown()
            return results
        finally:
            if started_here:
                ray.shutdown()


def make_executor(kind: str, *, workers: int | None = None,
                  ray_address: str | None = None) -> Executor:
    """``local`` (a process pool of ``workers``, default: the cores) or ``ray`` (a Ray
    started here with ``workers`` CPUs, or the cluster at ``ray_address``)."""
    if kind == "local":
        return LocalExecutor(workers or os.cpu_count() or 1)
    if kind == "ray":
        # on a cluster the workers need this project's files (user strategies, specs):
        # Ray ships the working directory (minus .gitignore'd paths) to every node
        runtime_env = {"working_dir": "."} if ray_address else None
        return RayExecutor(ray_address, num_cpus=workers, runtime_env=runtime_env)
    raise FinHgrpoError(f"executor must be 'local' or 'ray', got {kind!r}")


_worker_context: Any = None
_worker_messages: Any = None


class _NeverStarted(Exception):
    """No worker of a pool reached its initializer."""


def _start_worker(context: Any, messages: Any, started: Any) -> None:
    global _worker_context, _worker_messages
    _worker_context, _worker_messages = context, messages
    started.set()  # synchronous, unlike a queue: seen even if the worker dies next


def _run_in_worker(fn: TaskFunction, task: Any) -> Any:
    return fn(task, _worker_context, lambda kind, n: _worker_messages.put((kind, n)))


def _run_on_ray(fn: TaskFunction, task: Any, context: Any, messages: Any) -> Any:
    return fn(task, context, lambda kind, n: messages.put_nowait((kind, n)))


def _drain(get: Callable[[], Any], progress: Progress, ray_queue: bool = False) -> None:
    if ray_queue:
        from ray.util.queue import Empty
    else:
        Empty = queue.Empty  # noqa: N806
    while True:
        try:
            kind, n = get()
        except Empty:
            return
        progress(kind, n)


def _tell(on_result: OnResult | None, i: int, result: Any) -> None:
    if on_result is not None:
        on_result(i, result)
