import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestSpec, run_backtest
from fin_hgrpo.walkforward.executors import Executor, LocalExecutor, RayExecutor


def _die_once(task, context, progress):
    """Kills its own worker process the first time it sees each task."""
    marker = Path(context) / f"seen-{task}"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    progress("fold", 1)
    return task * 10


@pytest.fixture(scope="module")
def local_ray():
    import ray  # the ray extra; imported by the slow tests that start it

    # Ray's workers start in the driver's working directory (a test workspace), so
    # they find this module's task functions through the path given here
    repo = str(Path(__file__).resolve().parents[2])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
            repo, os.environ.get("PYTHONPATH")])))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        yield
        ray.shutdown()


@pytest.fixture
def spec() -> BacktestSpec:
    """Two folds of the tiny agents, a baseline and the benchmark (a second universe)."""
    spec = BacktestSpec.load("backtests/tiny_agents.toml")
    return spec.model_copy(update={"walk_forward": spec.walk_forward.model_copy(
        update={"max_folds": 2})})


@pytest.mark.slow  # starts a process pool and Ray
@pytest.mark.parametrize("population_seeds", [None, 1])
def test_one_worker_a_pool_of_two_and_ray_give_the_same_files(spec, local_ray,
                                                               population_seeds):
    """The same seed gives the same results in this process, in a process pool of two
    and on Ray: with each agent's seeds as one population task, and split into a
    population task per seed (spread over the workers)."""
    spec = spec.model_copy(update={"population_seeds": population_seeds})
    local = run_backtest(spec, quick=True, executor=LocalExecutor(1), progress=False)
    assert local.folds["fold"].nunique() == 1 and "hybrid_grpo_seed0" in local.returns
    for executor in (LocalExecutor(2), RayExecutor()):
        other = run_backtest(spec, quick=True, executor=executor, progress=False)
        pd.testing.assert_frame_equal(local.returns, other.returns, check_exact=True)
        pd.testing.assert_frame_equal(local.metrics, other.metrics, check_exact=True)


@pytest.mark.slow  # starts process pools, or Ray
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_task_lost_with_its_worker_is_retried(tmp_path, executor, request):
    if executor == "ray":
        request.getfixturevalue("local_ray")
    runner = LocalExecutor(2) if executor == "local" else RayExecutor()
    # a broken pool loses every task it held; Ray retries a task alone (one is enough)
    tasks = [1, 2] if executor == "local" else [1]
    results = runner.map(_die_once, tasks, str(tmp_path), lambda k, n: None)
    assert results == [10 * t for t in tasks]


def _report_and_square(task, context, progress):
    progress("train", task)
    return task * task


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_results_come_back_in_task_order_with_every_progress_report(workers):
    ticks, finished = [], []
    results = LocalExecutor(workers).map(_report_and_square, [3, 1, 2, 5], None,
                                         lambda kind, n: ticks.append(n),
                                         lambda i, result: finished.append((i, result)))
    assert results == [9, 1, 4, 25]
    assert sum(ticks) == 11
    assert sorted(finished) == [(0, 9), (1, 1), (2, 4), (3, 25)]


class _Interrupted(Exception):
    pass


class _StopsAfter(Executor):
    """Runs tasks in this process and is 'killed' after ``n`` of them."""

    def __init__(self, n: int) -> None:
        self.n, self.ran = n, 0

    def map(self, fn, tasks, context, progress, on_result=None):
        results = []
        for i, task in enumerate(tasks):
            if self.ran == self.n:
                raise _Interrupted
            results.append(fn(task, context, progress))
            self.ran += 1
            on_result(i, results[-1])
        return results


def test_an_interrupted_run_restarts_and_skips_the_tasks_already_done(spec, tmp_path):
    checkpoint = tmp_path / "parts"
    with pytest.raises(_Interrupted):
        run_backtest(spec, quick=True, executor=_StopsAfter(2), checkpoint=checkpoint,
                     progress=False)
    assert len(list(checkpoint.glob("*.zip"))) == 2
    second = _StopsAfter(100)
    resumed = run_backtest(spec, quick=True, executor=second, checkpoint=checkpoint,
                           progress=False)
    whole = run_backtest(spec, quick=True, executor=LocalExecutor(1), progress=False)
    assert second.ran == 4 - 2  # two agents' populations (2 seeds each) and 2 classical
    # strategies; 2 done before
    pd.testing.assert_frame_equal(resumed.returns, whole.returns, check_exact=True)
    changed = spec.model_copy(update={"seeds": [1, 2]})  # only what changed runs again
    third = _StopsAfter(100)
    run_backtest(changed, quick=True, executor=third, checkpoint=checkpoint, progress=False)
    assert third.ran == 2  # the agents' new populations; the baselines are unchanged


@pytest.mark.slow  # a script whose process pool breaks
def test_a_script_without_a_main_guard_fails_at_once_naming_the_fix(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from fin_hgrpo.walkforward.executors import LocalExecutor\n"
        "def work(task, context, progress):\n    return task\n"
        "print('top level', flush=True)\n"
        "LocalExecutor(2).map(work, [1, 2, 3], None, lambda k, n: None)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert 'if __name__ == \\"__main__\\":' in done.stderr or \
        'if __name__ == "__main__":' in done.stderr
    assert "died before they started" in done.stderr
    # the parent, then one try: one or both workers start before the pool breaks; no
    # retries, which would import the script again in more workers
    assert 2 <= done.stdout.count("top level") <= 3
