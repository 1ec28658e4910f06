"""Finished tasks kept on disk, so that an interrupted run restarts where it stopped.

Each task's result is pickled (atomically) under a name that is a hash of everything
that determines it: the task (strategy spec and agent config, seed, folds, rebalance,
budget) and the env spec. A changed spec therefore never reuses a stale result.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fin_hgrpo.io import atomic_write


def task_key(task: Any, env: BaseModel) -> str:
    """A stable hash of a task and the env it runs in."""
    payload = json.dumps({"task": _plain(task), "env": env.model_dump(mode="json")},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class TaskStore:
    """A folder of finished task results."""

    def __init__(self, folder: str | Path, env: BaseModel) -> None:
        self.folder, self.env = Path(folder), env

    def _path(self, task: Any) -> Path:
        return self.folder / f"{task_key(task, self.env)}.pkl"

    def load(self, task: Any) -> Any | None:
        """The task's saved result, or None if it has not finished in an earlier run."""
        path = self._path(task)
        if not path.is_file():
            return None
        return pickle.loads(path.read_bytes())  # noqa: S301 - our own files

    def save(self, task: Any, result: Any) -> None:
        data = pickle.dumps(result)
        atomic_write(self._path(task), lambda tmp: tmp.write_bytes(data))


@contextmanager
def finished_tasks(out: str | Path) -> Iterator[Path]:
    """The checkpoint folder of the run writing ``out`` (``.<name>.parts`` beside it);
    removed once the body (running and saving the run) has finished without error."""
    out = Path(out)
    folder = out.parent / f".{out.name}.parts"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {"model": type(value).__name__, **value.model_dump(mode="json")}
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()} | {"type": type(value).__name__}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
