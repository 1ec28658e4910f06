"""A sweep's Optuna study: shared by worker processes (each trial done once), resumed
exactly after a kill -9, and stale trials of dead processes asked again."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from fin_hgrpo.studies.optuna_study import (
    STUDY_FILE,
    Outcome,
    open_study,
    retry_stale,
    run_rounds,
    storage_of,
)
from fin_hgrpo.studies.sweep import Range
from tests.conftest import TINY_AGENT
from tests.studies.conftest import write_sweep

SWEEP = """
name = "study_tiny"
backtest = "backtests/tiny.toml"
agent = "strategies/hgrpo.toml"
steps = 64
seeds = [0]
holdout_folds = 1
search = "tpe"
trials = 6
parallel = 2
[space]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
"""


@pytest.fixture
def sweep(workspace: Path) -> Path:
    return write_sweep(workspace, SWEEP, "study.toml")


def _sweep(spec: Path, out: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fin_hgrpo.cli", "sweep", str(spec),
                             "--workers", "1", "--out", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _training_after_a_round(out: str) -> bool:
    """Whether a round has finished and the next one's two trials are asked, named and
    training (a kill between asking a trial and naming it is the case of
    test_a_trial_whose_asker_died_before_naming_itself_is_asked_again)."""
    trials = _study(out).trials
    return (sum(t.state.name == "COMPLETE" for t in trials) >= 2
            and sum(t.state.name == "RUNNING" and "worker" in t.user_attrs
                    for t in trials) == 2)


def _trials(out: str) -> pd.DataFrame:
    """A sweep's trials by their parameters, with their values."""
    table = pd.read_csv(Path(out) / "trials.csv")
    return table[["learning_rate", "val_sharpe"]].sort_values("learning_rate").reset_index(
        drop=True)


def _study(out: str) -> optuna.Study:
    return open_study("study_tiny", storage_of(None, Path(out)))


def test_stale_trials_of_a_dead_process_are_failed_and_asked_again():
    study = open_study("stale", optuna.storages.InMemoryStorage())
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    trial.set_user_attr("worker", f"{socket.gethostname()}:{dead}")
    assert retry_stale(study) == [trial.number]
    [failed, waiting] = study.get_trials()
    assert failed.state == optuna.trial.TrialState.FAIL
    assert waiting.state == optuna.trial.TrialState.WAITING
    assert waiting.system_attrs["fixed_params"] == failed.params
    run_rounds(study, {"x": Range(low=0, high=1)}, search="random", seed=0, trials=1,
               parallel=1,
               evaluate=lambda asked: [Outcome(1.0, {}) for _ in asked])
    assert [t.params for t in study.trials if t.state.name == "COMPLETE"] == [failed.params]


def test_a_trial_whose_asker_died_before_naming_itself_is_asked_again(monkeypatch):
    """kill -9 between asking a trial and naming its worker leaves it running with no
    owner: a resumed study must not wait for it forever."""
    from fin_hgrpo.studies import optuna_study

    study = open_study("ownerless", optuna.storages.InMemoryStorage())
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    assert retry_stale(study) == []  # just asked: its asker may still name itself
    monkeypatch.setattr(optuna_study, "OWNERLESS_SECONDS", 0.0)
    time.sleep(0.01)
    assert retry_stale(study) == [trial.number]
    run_rounds(study, {"x": Range(low=0, high=1)}, search="random", seed=0, trials=1,
               parallel=1, evaluate=lambda asked: [Outcome(1.0, {}) for _ in asked])
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert [t.params for t in done] == [trial.params]


@pytest.mark.slow  # three sweeps of six trials: 40 s
def test_a_killed_study_resumes_to_the_trials_of_one_never_interrupted(sweep):
    whole = _sweep(sweep, "whole")
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    killed = _sweep(sweep, "killed")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill -9 mid-study, while a round trains
        if Path("killed", STUDY_FILE).is_file() and _training_after_a_round("killed"):
            break
        time.sleep(0.1)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not Path("killed", "trials.csv").exists()
    again = _sweep(sweep, "killed")
    assert again.wait(timeout=300) == 0, again.stderr.read()
    pd.testing.assert_frame_equal(_trials("killed"), _trials("whole"))


@pytest.mark.slow  # two workers on one study of six trials: 25 s
def test_two_workers_on_one_study_do_each_trial_once(sweep):
    workers = [_sweep(sweep, "shared") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    study = _study("shared")
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 6 and len({t.number for t in done}) == 6
    table = pd.read_csv(Path("shared") / "trials.csv")
    assert sorted(table["trial"]) == [t.number for t in done]
    assert sorted(table["val_sharpe"]) == sorted(t.value for t in done)


@pytest.fixture
def postgres() -> str:
    """A PostgreSQL server of this machine's installation, started for the test in a
    folder of its own (as the postgres user when the test runs as root, which initdb
    refuses), listening on a Unix socket only; the URL of a fresh database in it."""
    [initdb] = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))[-1:] or [None]
    assert initdb is not None, "needs PostgreSQL (apt-get install postgresql; .ci/run does)"
    bin_dir = initdb.parent
    home = Path(tempfile.mkdtemp(prefix="fin-hgrpo-pg-"))  # pytest's folders are root's alone
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        home.chmod(0o755)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", "54329"

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "fin", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(home / "log"), "-o",
        f"-k {home} -p {port} -c listen_addresses=''", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", str(home), "-p", port, "-U", "fin", "study")
        yield f"postgresql://fin@/study?host={home}&port={port}"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow  # a PostgreSQL server and two workers on one study: 30 s
def test_two_workers_on_one_postgresql_study_do_each_trial_once(sweep, postgres):
    workers = [subprocess.Popen(
        [sys.executable, "-m", "fin_hgrpo.cli", "sweep", str(sweep), "--workers", "1",
         "--out", f"pg{i}", "--storage", postgres, "--study", "shared"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()
    study = optuna.load_study(study_name="shared", storage=postgres)
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 6 and len({t.number for t in done}) == 6
    for out in ("pg0", "pg1"):  # each worker's table is the whole study's
        table = pd.read_csv(Path(out) / "trials.csv")
        assert sorted(table["trial"]) == [t.number for t in done]
        assert sorted(table["val_sharpe"]) == sorted(t.value for t in done)
    assert not Path("pg0", STUDY_FILE).exists()  # the study lives in the database


def test_a_study_made_by_another_spec_is_not_continued(sweep, capsys):
    """Its finished trials would be stale (another space, agent or data); a larger
    budget goes on with them."""
    from fin_hgrpo.cli import main

    sweep.write_text(SWEEP.replace("trials = 6", "trials = 2"))
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "again"]) == 0
    sweep.write_text(SWEEP.replace("trials = 6", "trials = 3"))  # one more trial: goes on
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "again"]) == 0
    assert len(pd.read_csv(Path("again") / "trials.csv")) == 3
    sweep.write_text(SWEEP.replace("trials = 6", "trials = 3").replace("1e-2", "3e-2"))
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "again"]) == 2
    assert "made by another sweep spec" in capsys.readouterr().err


# an agent tilting a base portfolio: tilting cash, its near-random policy's trades are
# large against what it holds, and at 50 bps a trade they pay away every fold's return
TILTING = TINY_AGENT.format(algorithm="hybrid_grpo", group=4) + (
    'distribution = "tilt"\nbase = "equal_weight"\n')
BAD_REGION = SWEEP.replace('search = "tpe"\ntrials = 6', 'search = "grid"').replace(
    'agent = "strategies/hgrpo.toml"', 'agent = "strategies/tilting.toml"').replace(
    "learning_rate = { low = 1e-4, high = 1e-2, log = true }",
    'base = ["equal_weight", "cash"]\ntrade_rate = [0.25, 0.5, 0.75, 1.0]')


@pytest.mark.slow  # three sweeps of eight trials: 15 s
def test_pruning_stops_the_bad_region_early_and_keeps_the_winner(sweep, capsys):
    from fin_hgrpo.cli import main

    Path("strategies/tilting.toml").write_text(TILTING)
    env = Path("envs/tiny.toml")
    env.write_text(env.read_text().replace("bps = 10.0", "bps = 50.0"))
    sweep.write_text(BAD_REGION.replace('search = "grid"', 'search = "grid"\npruner = "none"'))
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "unpruned"]) == 0
    sweep.write_text(BAD_REGION)  # the default: the median pruner
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "pruned"]) == 0
    whole, pruned = (pd.read_csv(Path(out) / "trials.csv") for out in ("unpruned", "pruned"))
    assert (whole["folds_run"] == 3).all() and (pruned["state"] == "pruned").any()
    assert (whole.groupby("base")["val_sharpe"].max()["cash"]
            < whole.groupby("base")["val_sharpe"].min()["equal_weight"])  # a bad region
    trained = pruned["folds_run"].sum() / whole["folds_run"].sum()
    assert trained <= 2 / 3, trained  # at least a third of the training saved
    winner = ["base", "trade_rate"]
    assert pruned.iloc[0][winner].tolist() == whole.iloc[0][winner].tolist()  # the same
    sweep.write_text(BAD_REGION.replace('search = "grid"', 'search = "grid"\npruner = "hyperband"'))
    assert main(["sweep", str(sweep), "--workers", "1", "--out", "hyperband"]) == 0
    banded = pd.read_csv(Path("hyperband") / "trials.csv")
    assert len(banded) == 8 and set(banded["state"]) <= {"complete", "pruned"}


@pytest.mark.slow  # six studies of 16 trials: 40 s
def test_tpe_spends_more_of_its_budget_in_the_known_good_region_than_random_search(sweep):
    """bench/samplers.py's setup: tilting cash is the known bad half of the space. Over
    three study seeds, TPE's trials after its random first round lie in the good half
    at least 15 points more often than random search's (bench: 5 seeds)."""
    from fin_hgrpo.studies.sweep import SweepSpec, run_sweep

    Path("strategies/tilting.toml").write_text(TILTING)
    env = Path("envs/tiny.toml")
    env.write_text(env.read_text().replace("bps = 10.0", "bps = 50.0"))
    sweep.write_text(BAD_REGION.replace('search = "grid"', 'trials = 16\npruner = "none"')
                     .replace("parallel = 2", "parallel = 4")
                     .replace("trade_rate = [0.25, 0.5, 0.75, 1.0]",
                              "trade_rate = { low = 0.05, high = 1.0 }"))
    share = {}
    for search in ("tpe", "random"):
        found = []
        for seed in (0, 1, 2):
            spec = SweepSpec.load(sweep).model_copy(update={"search": search, "seed": seed})
            trials = run_sweep(spec, f"{search}{seed}", progress=False).trials
            later = trials.sort_values("trial").iloc[spec.parallel:]
            found.append((later["base"] == "equal_weight").mean())
        share[search] = sum(found) / len(found)
    assert share["tpe"] >= share["random"] + 0.15, share
