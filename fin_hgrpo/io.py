"""Atomic writes: a file appears whole or not at all, even if the process is killed."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from fin_hgrpo.errors import DataError, FinHgrpoError

# a staging folder's name between its result's name and .tmp/.old: pid, mkdtemp's part
_STAGING = re.compile(r"(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # as an ordinary new file, not mkstemp's 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_csv(path: str | Path, hint: str = "", **options) -> pd.DataFrame:
    """``pandas.read_csv`` of ``path``; a file that is missing or does not parse (empty,
    truncated, not text, malformed) is one ``DataError`` naming it, with ``hint`` after."""
    try:
        return pd.read_csv(path, **options)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc}){hint}") from None


def read_result_csv(path: str | Path, **options) -> pd.DataFrame:
    """A CSV a run wrote (pandas ends each with a newline): one that stops mid-line was
    cut short, and is refused naming it rather than read as fewer rows; one read with
    ``parse_dates`` must have dates in its first column."""
    path = Path(path)
    hint = "; truncated or edited? run it again"
    try:
        with path.open("rb") as file:
            file.seek(-1, os.SEEK_END)
            complete = file.read(1) == b"\n"
    except OSError:
        complete = True  # missing or empty: read_csv names it
    if not complete:
        raise DataError(f"{path}: ends mid-line{hint}")
    table = read_csv(path, hint, **options)
    if options.get("parse_dates") and not isinstance(table.index, pd.DatetimeIndex):
        raise DataError(f"{path}: its first column holds text that is not a date{hint}")
    return table


def read_json(path: str | Path, *keys: str) -> dict:
    """A JSON object a run wrote, with ``keys`` present; a truncated, edited or foreign
    file is one ``DataError`` naming it (and the key), never a traceback."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON file ({exc}); written by another "
                        "version, truncated or edited? run it again") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: holds {type(data).__name__}, not a JSON object")
    missing = [key for key in keys if key not in data]
    if missing:
        raise DataError(f"{path}: has no key {missing[0]}; written by another version, or "
                        "edited? run it again")
    return data


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


@contextmanager
def atomic_directory(path: str | Path, marker: str) -> Iterator[Path]:
    """Fill a temporary folder beside ``path``; on success it replaces ``path`` whole.

    If the body raises (or the process dies) ``path`` keeps its old contents, if any.
    ``path`` is replaced only if it is absent, empty, or a previous result of the same
    kind (it holds the file ``marker``, e.g. ``run.json``); a folder holding anything
    else, or the working directory or one above it, is refused by name before any work.
    Staging folders left by killed runs beside ``path`` are removed.
    """
    path = Path(path)
    check_replaceable(path, marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(path)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=".tmp"))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_UMASK)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                        suffix=".old"))
            os.replace(path, old / path.name)
        os.replace(staging, path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def check_replaceable(path: str | Path, marker: str | tuple[str, ...]) -> None:
    """Refuse to overwrite ``path`` unless it is absent, an empty folder or a folder
    holding ``marker`` (a previous result of the same kind; any of several), and never
    the working directory or a folder above it."""
    markers = (marker,) if isinstance(marker, str) else marker
    path = Path(path)
    resolved = path.resolve()
    if Path.cwd().resolve().is_relative_to(resolved):
        raise FinHgrpoError(f"{path}: is the working directory or holds it; write "
                            "results into a folder of their own")
    if not path.exists():
        return
    if not path.is_dir():
        raise FinHgrpoError(f"{path}: is a file, not a results folder; nothing was written")
    if any(path.iterdir()) and not any((path / m).is_file() for m in markers):
        raise FinHgrpoError(f"{path}: holds files but no {' or '.join(markers)}, so it is not "
                            "a previous result of this kind; choose a new folder (nothing "
                            "was written)")


def _remove_stale_staging(path: Path) -> None:
    """Remove the ``.<name>.<pid>.<random>.tmp`` (and ``.old``) folders beside ``path``
    whose process has ended: what a run killed while saving left behind."""
    for stale in path.parent.glob(f".{path.name}.*"):
        middle = stale.name[len(path.name) + 2:-4]
        found = _STAGING.fullmatch(middle)
        if stale.suffix in (".tmp", ".old") and found and stale.is_dir() \
                and not process_alive(found["pid"]):
            shutil.rmtree(stale, ignore_errors=True)


def process_alive(pid: str | int | None) -> bool:
    """Whether the process ``pid`` of this machine still runs (False without one: a
    staging folder named before pids were part of the name)."""
    if pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
