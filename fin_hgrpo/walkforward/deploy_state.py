"""What a backtest keeps so that its strategies can act after the test: ``deploy/``.

``DeployState`` is built from the last fold's results and written as
``deploy/state.json`` (the env spec then, the last fold's windows, each strategy's
spec and trading rules, and per run the tickers it traded and the holdings the fold
began from) with each agent seed's networks as ``deploy/<run>.pt`` (an agent file,
``Agent.save``); ``DeployState.read`` reads the same folder back, typed and checked.
``deploy.targets`` replays the engine from it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fin_hgrpo.data.calendar import Rebalance
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.errors import DataError, FinHgrpoError
from fin_hgrpo.io import atomic_write, atomic_write_text
from fin_hgrpo.strategies.config import StrategySpec
from fin_hgrpo.trust import check_name
from fin_hgrpo.walkforward.splits import Fold

FOLDER = "deploy"
STATE = "state.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Holdings(_Model):
    """Weights (the tickers, then cash) held at the close of ``date``."""

    date: date
    weights: list[float]

    def position(self) -> Position:
        return Position(pd.Timestamp(self.date), np.asarray(self.weights))


class Rules(_Model):
    """A strategy as the backtest ran it: its spec and trading rules, and a custom
    strategy's code as a sha256 (compared with the code a user names, never imported
    from here)."""

    spec: StrategySpec
    rebalance: Rebalance
    min_trade: float
    code_sha256: str | None = None


class DeployedRun(_Model):
    """One run of the last fold: its strategy, seed (agents) and tickers, the holdings
    its test began from (None: cash), and an agent's networks (``agent`` in memory, the
    file ``agent_file`` on disk); a shrunk twin names its raw run and the kappa or cap
    it kept in the last fold (what it keeps after the test too)."""

    strategy: str
    seed: int | None = None
    tickers: list[str]
    start: Holdings | None = None
    agent_file: str | None = None
    agent: bytes | None = Field(default=None, exclude=True)
    # a shrunk twin: the run whose networks act, and the tilt it kept in the last fold
    shrunk_from: str | None = None
    kappa: float | None = None
    cap: float | None = None


class LastFold(_Model):
    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def timestamps(self) -> dict[str, pd.Timestamp]:
        return {name: pd.Timestamp(getattr(self, name))
                for name in ("train_start", "train_end", "test_start", "test_end")}


class DeployState(_Model):
    """Everything ``fin-hgrpo weights`` needs to act as the backtest's strategies."""

    env: str  # the env spec file, read again for newer prices
    env_spec: EnvSpec  # as the backtest ran it: what the networks were trained to read
    periods_per_year: int
    fold: LastFold
    strategies: dict[str, Rules]
    runs: dict[str, DeployedRun]
    # the env's prices over the last fold's training and test windows (a sha256): the
    # replay ``weights`` runs departs from the backtest's if they have changed since
    prices_sha256: str | None = None

    @model_validator(mode="after")
    def _names_are_names(self) -> DeployState:
        """Run and strategy names become file names (``targets/<run>-<date>``, an agent's
        ``<run>.pt``): each must be a spec name, never a path."""
        where = f"{FOLDER}/{STATE}"
        for name in [*self.strategies, *self.runs]:
            check_name(name, where)
        for name, run in self.runs.items():
            check_name(run.strategy, where)
            if run.shrunk_from is not None:
                check_name(run.shrunk_from, where)
            if run.agent_file not in (None, f"{name}.pt"):
                raise ValueError(f"run {name}'s agent file is {run.agent_file!r}, not "
                                 f"{name}.pt")
        return self

    @classmethod
    def build(cls, env: str, env_spec: EnvSpec, periods: int, last: Fold,
              strategies: dict[str, Rules], runs: dict[str, DeployedRun]) -> DeployState:
        fold = LastFold(index=last.index, **{k: getattr(last, k).date() for k in (
            "train_start", "train_end", "test_start", "test_end")})
        return cls(env=env, env_spec=env_spec, periods_per_year=periods, fold=fold,
                   strategies=strategies, runs=runs)

    def write(self, folder: str | Path) -> Path:
        """``deploy/state.json`` and each agent run's ``deploy/<run>.pt`` in ``folder``."""
        out = Path(folder) / FOLDER
        runs = {}
        for name, run in self.runs.items():
            if run.agent is not None:
                atomic_write(out / f"{name}.pt", lambda tmp, data=run.agent: tmp.write_bytes(data))
                run = run.model_copy(update={"agent_file": f"{name}.pt"})
            runs[name] = run
        state = self.model_copy(update={"runs": runs})
        atomic_write_text(out / STATE, state.model_dump_json(indent=2) + "\n")
        return out

    @classmethod
    def read(cls, folder: str | Path) -> DeployState:
        """The state a backtest wrote into ``folder``, checked."""
        path = Path(folder) / FOLDER / STATE
        if not path.is_file():
            raise FinHgrpoError(f"{folder}: no {FOLDER}/{STATE} (a backtest keeps what its "
                                "strategies need to act from this version on; run it again)")
        try:
            return cls.model_validate_json(path.read_text())
        except DataError as exc:  # a name that is not a name (check_name)
            raise DataError(f"{path}: {exc}") from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            key = ".".join(str(part) for part in problem["loc"])
            raise FinHgrpoError(f"{path}: key {key}: {problem['msg']} (written by another "
                                "version? run the backtest again)") from None

    def agent_path(self, folder: str | Path, run: str) -> Path:
        """The file of an agent run's networks."""
        return Path(folder) / FOLDER / self.runs[run].agent_file
