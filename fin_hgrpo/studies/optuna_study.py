"""The Optuna study behind a sweep: which sampler asks, where the trials live, and how
a killed or shared study goes on.

A sweep's search is an Optuna study (``search``: TPE, CMA-ES, random or grid, seeded
by the spec's ``seed``). Trials are asked in rounds as wide as ``parallel``; a round's
trials (each with every seed) are trained together as populations on the executor and
told back, the TPE sampler lying constant about the trials still running so that one
round's asks spread out. The study lives in a storage that several processes can write
at once: by default a journal file in the sweep's results folder (``study.log``), or
any database Optuna supports (``--storage postgresql://...``), so several machines can
work on one study.

Resuming is exact. Each round's sampler is seeded from the spec's seed and the number
of trials finished before the round, so the same history asks the same points; a trial
left running by a process that died (killed, or its machine lost) is failed and its
parameters asked again first, and its training is deterministic, so a killed study run
again gives the same completed trials with the same values as one never interrupted. A
process killed in the instant between asking a trial and naming itself on it leaves a
trial with no owner: it is failed and asked again once ``OWNERLESS_SECONDS`` old, so the
study completes, though its last points may differ from an uninterrupted study's.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import process_alive
from fin_hgrpo.measures import performance
from fin_hgrpo.measures.performance import CashRate

STUDY_FILE = "study.log"  # the default storage: Optuna's journal, in the results folder
WORKER = "worker"  # a trial's user attribute: host:pid of the process running it
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
WAIT_SECONDS = 1.0  # how often a worker with nothing left to ask looks at the others'
OWNERLESS_SECONDS = 30.0  # a running trial naming no worker this long: its asker died


@dataclass(frozen=True)
class Outcome:
    """What a trial gave: its value (None: failed), attributes kept with it, and whether
    the pruner stopped it (its value is then its running one)."""

    value: float | None
    attrs: dict
    pruned: bool = False


@dataclass(frozen=True)
class Pruning:
    """What a task needs to report to a study from its own process: where the study
    lives (``url``, else the journal in ``folder``), its name, the pruner, how many
    search folds a trial runs, and each of the task's trials' id (by trial name)."""

    url: str | None
    folder: str
    study: str
    pruner: str
    steps: int
    startup: int
    trials: tuple[tuple[str, int], ...]

    def open(self, rf: CashRate, periods: int) -> Reporter:
        """The task's reporter, in the task's own process (the study opened there)."""
        return Reporter(self, rf, periods)


def make_pruner(kind: str, steps: int, startup: int) -> optuna.pruners.BasePruner:
    """``median``: stop a trial whose running value is below the median of the others'
    at the same fold (after ``startup`` trials finished); ``hyperband``: Optuna's, over
    the folds; ``none``: never."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(steps, 1))
    return optuna.pruners.NopPruner()


class Reporter:
    """A task's side of pruning, in the task's own process: the study opened once, with
    its pruner; ``stopped`` reports each trial's running value after a search fold."""

    def __init__(self, pruning: Pruning, rf: CashRate, periods: int) -> None:
        self.pruning, self.rf, self.periods = pruning, rf, periods
        self.ids = dict(pruning.trials)
        self.study = optuna.load_study(
            study_name=pruning.study, storage=storage_of(pruning.url, Path(pruning.folder)),
            pruner=make_pruner(pruning.pruner, pruning.steps, pruning.startup))

    def stopped(self, step: int, results: dict) -> set[str]:
        """Report each trial's running validation Sharpe after search fold ``step`` (the
        mean over its seeds of each seed's Sharpe on its test returns so far;
        ``results``: each run's fold results, by column) and return the trials the
        pruner stops."""
        by_trial: dict[str, list] = {}
        for column, folds in results.items():
            by_trial.setdefault(column.rsplit("_seed", 1)[0], []).append(folds)
        stopped = set()
        for name, runs in by_trial.items():
            if any(r.error for folds in runs for r in folds):
                continue  # it fails on its own
            sharpes = [performance.sharpe(stitched(folds), rf=self.rf, periods=self.periods)
                       for folds in runs]
            trial = optuna.trial.Trial(self.study, self.ids[name])
            trial.report(float(sum(sharpes) / len(sharpes)), step)
            if step < self.pruning.steps - 1 and trial.should_prune():
                stopped.add(name)
        return stopped


def stitched(folds: list) -> pd.Series:
    """A run's daily net returns over its folds' test windows, in order."""
    return pd.concat([r.daily["net_return"] for r in folds])


Evaluate = Callable[[list[optuna.trial.Trial]], list[Outcome]]


def distributions(space: dict) -> dict[str, BaseDistribution]:
    """Optuna's distribution of each key of a sweep's space: a list is a choice among its
    values, a range (``low``, ``high``, ``log``, ``integer``) a number between them."""
    found: dict[str, BaseDistribution] = {}
    for key, value in space.items():
        if isinstance(value, list):
            found[key] = CategoricalDistribution(value)
        elif value.integer:
            found[key] = IntDistribution(int(value.low), int(value.high), log=value.log)
        else:
            found[key] = FloatDistribution(value.low, value.high, log=value.log)
    return found


def make_sampler(search: str, space: dict, seed: int,
                 startup: int = 10) -> optuna.samplers.BaseSampler:
    """The sampler ``search`` names, seeded; TPE samples at random for its first
    ``startup`` trials (a sweep's: its first round)."""
    if search == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True,
                                          n_startup_trials=startup)
    if search == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return _Grid({k: list(v) for k, v in space.items()}, seed=seed)


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid, asked and told by hand: the study's budget (the grid's size) ends
    it, not ``Study.stop``, which only ``Study.optimize`` may call."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def grid_size(space: dict) -> int:
    """The number of points of a grid over lists."""
    return math.prod(len(v) for v in space.values())


def storage_of(url: str | None, folder: Path) -> optuna.storages.BaseStorage:
    """``url`` (any database Optuna supports), else a journal file in ``folder``."""
    if url is not None:
        return _database(url)
    from optuna.storages.journal import JournalFileBackend

    folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / STUDY_FILE)))


def _database(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's storage in the database at ``url``. Workers starting at once on a new
    database race to create its tables; the losers try again once they exist."""
    from sqlalchemy.exc import SQLAlchemyError

    failure = None
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except SQLAlchemyError as exc:
            failure = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            time.sleep(0.5 * (attempt + 1))
        except (ValueError, ImportError) as exc:  # a URL or driver SQLAlchemy cannot use
            raise SpecError(f"--storage {url}: {exc}") from None
    raise SpecError(f"--storage {url}: cannot open the database ({failure})")


def open_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """The study ``name`` in ``storage``, made if new (maximising the validation Sharpe)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                   load_if_exists=True)
    except ValueError as exc:  # a study of another direction under that name
        raise SpecError(f"--study {name}: {exc}") from None


def claim(study: optuna.Study, fingerprint: str) -> None:
    """Mark a new study as made by ``fingerprint`` (what its trials depend on), or refuse
    one made by another: its finished trials would be stale."""
    made_by = study.user_attrs.get("fingerprint")
    if made_by is None:
        study.set_user_attr("fingerprint", fingerprint)
    elif made_by != fingerprint:
        raise SpecError(f"study {study.study_name!r} was made by another sweep spec, or the "
                        "files or prices it read have changed since: its trials would be "
                        "stale; give another --out (or --study)")


def run_rounds(study: optuna.Study, space: dict, *, search: str, seed: int, trials: int,
               parallel: int, evaluate: Evaluate) -> None:
    """Ask, evaluate and tell rounds of at most ``parallel`` trials until the study holds
    ``trials`` finished ones (with every other process working on it), then wait for the
    other processes' running trials, so that every worker's table is the whole study."""
    wanted = distributions(space)
    retry_stale(study)
    while True:
        existing = study.get_trials(deepcopy=False)
        finished = sum(t.state in DONE for t in existing)
        taken = sum(t.state in (*DONE, TrialState.RUNNING) for t in existing)
        count = min(parallel, max(trials - taken, 0))
        if count == 0:
            if not any(t.state == TrialState.RUNNING for t in existing):
                return
            time.sleep(WAIT_SECONDS)  # other workers' trials: the table waits for them
            retry_stale(study)
            continue
        # a grid's seed shuffles its points once: every round must see the same order
        round_seed = seed if search == "grid" else seed * 1_000_003 + finished
        study.sampler = make_sampler(search, space, round_seed, startup=parallel)
        asked = []
        for _ in range(count):
            trial = study.ask(wanted)
            trial.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getpid()}")
            if _beyond_the_budget(study, trial, trials):
                study.tell(trial, state=TrialState.FAIL)  # another process took the room
                continue
            asked.append(trial)
        if not asked:  # other workers took the last trials: wait for them as above
            continue
        for trial, outcome in zip(asked, evaluate(asked), strict=True):
            for key, value in outcome.attrs.items():
                trial.set_user_attr(key, value)
            if outcome.pruned:
                study.tell(trial, state=TrialState.PRUNED)
            elif outcome.value is None or not math.isfinite(outcome.value):
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, outcome.value)


def _beyond_the_budget(study: optuna.Study, trial: optuna.trial.Trial, trials: int) -> bool:
    """Whether the trials numbered before ``trial`` that finished or run already fill the
    budget (two processes asking at once may both have seen room for one more)."""
    before = [t for t in study.get_trials(deepcopy=False)
              if t.number < trial.number and t.state in (*DONE, TrialState.RUNNING)]
    return len(before) >= trials


def retry_stale(study: optuna.Study) -> list[int]:
    """Fail the trials left running by a process of this machine that is gone (killed,
    or its run stopped), and ask their parameters again first. Returns their numbers.

    A trial that names no worker was asked by a process killed before it could name
    itself (a live one does so at once): stale once it is ``OWNERLESS_SECONDS`` old."""
    host = socket.gethostname()
    stale = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get(WORKER, ""))
        name, _, pid = owner.rpartition(":")
        if (name == host and pid.isdigit() and not process_alive(pid)) or (
                not owner and _older_than(trial, OWNERLESS_SECONDS)):
            study.tell(trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            stale.append(trial.number)
    return stale


def _older_than(trial: optuna.trial.FrozenTrial, seconds: float) -> bool:
    started = trial.datetime_start  # Optuna's: the asking process's local time
    return started is not None and (datetime.now() - started).total_seconds() > seconds


def check_budget(search: str, space: dict, trials: int | None) -> int:
    """The number of trials a study runs: ``trials``, or for a grid its size (a grid of
    fewer points than asked is refused)."""
    if search == "grid":
        size = grid_size(space)
        if trials is not None and trials > size:
            raise SpecError(f"trials = {trials}, but the grid has {size} points")
        return trials or size
    return trials or 10


__all__ = ["STUDY_FILE", "Outcome", "check_budget", "open_study", "run_rounds", "storage_of"]
