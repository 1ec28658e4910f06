"""Finished tasks kept on disk, so that an interrupted run restarts where it stopped.

Each task's result is saved (atomically) under a name that is a hash of everything that
determines it: the task (strategy spec and agent config, seed, folds, rebalance,
budget), the env spec and the content of every file it reads (prices, membership,
borrow, shortable and cash-rate files), the prices every task reads, fin_hgrpo's own
code and a custom strategy's file. A changed spec, a corrected or edited file or edited
code therefore never reuses a stale result.

A checkpoint is data, never code: a zip of JSON (the scalars), Parquet (the frames) and
the trained agent's file (``torch.save`` of tensors, read back with
``weights_only=True``). Loading one cannot run anything, whoever wrote the folder. Each
is signed (HMAC-SHA256) with a key of the user's own (``signing_key``), so a checkpoint
someone else wrote or edited is not taken as a finished task: one that does not verify
or read back is ignored with a warning and its task runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from fin_hgrpo.envs.trading import Position
from fin_hgrpo.io import atomic_write
from fin_hgrpo.provenance import file_sha256, panel_sha256
from fin_hgrpo.strategies.config import CustomSpec
from fin_hgrpo.walkforward.results import FoldResult

_FRAMES = ("daily", "weights", "training")  # FoldResult's DataFrame fields


def task_key(task: Any, env: BaseModel, data: str = "", code: str = "") -> str:
    """A stable hash of a task, the env it runs in, the prices it reads (``data``) and
    the code that runs it (``code``)."""
    payload = json.dumps({"task": _plain(task), "env": env.model_dump(mode="json"),
                          "data": data, "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class TaskStore:
    """A folder of finished task results, keyed by ``task_key`` over the ``context``'s
    env and prices (``context.panels``) and the code."""

    def __init__(self, folder: str | Path, context: Any) -> None:
        self.folder, self.env = Path(folder), context.env
        files = "".join(f"{name}:{file_sha256(name)};" for name in context.env.files())
        self.data = hashlib.sha256((files + "".join(
            f"{name}:{panel_sha256(panel)};" for name, panel in sorted(context.panels.items())
        )).encode()).hexdigest()

    def _path(self, task: Any) -> Path:
        code = package_sha256() + "".join(_custom_code(task))
        return self.folder / f"{task_key(task, self.env, self.data, code)}.zip"

    def load(self, task: Any) -> list[FoldResult] | None:
        """The task's saved result, or None if it has not finished in an earlier run (or
        its file does not read back as a checkpoint: then it runs again)."""
        path = self._path(task)
        if not path.is_file():
            return None
        signed = path.read_bytes()
        mac, data = signed[:MAC_BYTES], signed[MAC_BYTES:]
        if not hmac.compare_digest(mac, _mac(data)):
            warnings.warn(f"{path}: a task checkpoint not signed by this user's key (written "
                          "by someone else, or edited); the task runs again", stacklevel=2)
            return None
        try:
            return read_results(data)
        except Exception as error:  # noqa: BLE001 - any unreadable file means: run again
            warnings.warn(f"{path}: not a readable task checkpoint ({error}); the task "
                          "runs again", stacklevel=2)
            return None

    def save(self, task: Any, result: list[FoldResult]) -> None:
        data = write_results(result)
        atomic_write(self._path(task), lambda tmp: tmp.write_bytes(_mac(data) + data))


MAC_BYTES = 32  # an HMAC-SHA256 before each checkpoint's zip


def _mac(data: bytes) -> bytes:
    return hmac.new(signing_key(), data, hashlib.sha256).digest()


@cache
def signing_key() -> bytes:
    """The user's key for signing checkpoints: ``$FIN_HGRPO_KEY`` (a file), else
    ``fin-hgrpo/checkpoint.key`` under ``$XDG_CONFIG_HOME`` (``~/.config``), made on
    first use with 32 random bytes, readable by the user alone."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = Path(os.environ.get("FIN_HGRPO_KEY") or config / "fin-hgrpo" / "checkpoint.key")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key.")  # mode 0600
        try:
            os.write(fd, secrets.token_bytes(32))
            os.close(fd)
            os.link(tmp, path)  # atomic, and never over a key another process just made
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_bytes()


def write_results(results: list[FoldResult]) -> bytes:
    """A task's fold results as a zip of JSON, Parquet and agent files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        records = []
        for i, result in enumerate(results):
            record = {f.name: getattr(result, f.name) for f in fields(result)
                      if f.name not in (*_FRAMES, "start", "agent")}
            for name in _FRAMES:
                frame = getattr(result, name)
                record[name] = None if frame is None else {"freq": _freq(frame.index)}
                if frame is not None:
                    archive.writestr(f"{i}/{name}.parquet", frame.to_parquet())
            if result.start is not None:
                record["start"] = {"date": result.start.date.isoformat(),
                                   "weights": result.start.weights.tolist()}
            record["agent"] = result.agent is not None
            if result.agent is not None:
                archive.writestr(f"{i}/agent.pt", result.agent)
            records.append(record)
        archive.writestr("results.json", json.dumps(records))
    return buffer.getvalue()


def read_results(data: bytes) -> list[FoldResult]:
    """``write_results``' fold results back."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        results = []
        for i, record in enumerate(json.loads(archive.read("results.json"))):
            for name in _FRAMES:
                if record[name] is not None:
                    freq = record[name]["freq"]
                    record[name] = pd.read_parquet(io.BytesIO(archive.read(f"{i}/{name}.parquet")))
                    if freq is not None:  # Parquet keeps the dates, not their frequency
                        record[name].index.freq = freq
            start = record.get("start")
            record["start"] = None if start is None else Position(
                pd.Timestamp(start["date"]), np.asarray(start["weights"], dtype=np.float64))
            record["agent"] = archive.read(f"{i}/agent.pt") if record["agent"] else None
            results.append(FoldResult(**record))
        return results


def _freq(index: pd.Index) -> str | None:
    return index.freqstr if isinstance(index, pd.DatetimeIndex) else None


@cache
def package_sha256() -> str:
    """A sha256 of fin_hgrpo's own source files: edited code is another result."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _custom_code(task: Any) -> list[str]:
    """The sha256 of a custom strategy's file, if the task runs one."""
    if not isinstance(task.spec, CustomSpec):
        return []
    return [str(file_sha256(task.spec.module))]


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
