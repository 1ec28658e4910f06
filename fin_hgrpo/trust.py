"""The trust boundary: a results folder is data that people share and download, so
nothing in one chooses code to run, a path to write or markup to render.

- **Code** (a custom strategy's module) runs only from a spec the user names on the
  command line (``fin-hgrpo backtest SPEC``, or ``--spec SPEC`` for ``weights`` and
  ``verify``). A code path a folder recorded is compared with that spec's, by name and
  sha256, and never imported (``check_named``).
- **Data** a folder names (the specs a recorded command re-runs, the env spec a backtest
  ran with) is read only from the workspace and never from inside a results folder, its
  own or another's (``check_data_file``).
- **Names** read from a folder (runs, strategies, columns) are spec names, checked on
  reading (``check_name``), and every path written from them must resolve inside the
  folder it belongs to (``inside``): an absolute name, ``..`` or a symlink leading out
  is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from fin_hgrpo.errors import DataError, FinHgrpoError

NAME = re.compile(r"[A-Za-z0-9_.-]+")  # as a spec's name: never a path of its own
RESULT_MARKERS = ("manifest.json", "run.json")  # a folder holding one is a run's results


def check_name(name: object, source: str) -> str:
    """``name`` (a run, a strategy, a column) read from ``source``: refused unless it is
    a spec name (letters, digits, ``_ . -``), so that it never becomes a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or set(name) == {"."}:
        raise DataError(f"{source}: {name!r} is not a run or strategy name (letters, digits, "
                        "'_', '.', '-'); a results folder's names never become paths")
    return name


def inside(folder: str | Path, *parts: str) -> Path:
    """``folder/parts``, refused unless it resolves inside ``folder``: an absolute part,
    ``..`` or a symlink leading out of the folder never chooses where files go."""
    folder = Path(folder)
    path = folder.joinpath(*parts)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise FinHgrpoError(f"{path}: leads to {path.resolve()}, outside {folder}; files "
                            "are written only inside their folder (nothing was written)")
    return path


def results_folder_holding(path: Path, workspace: Path) -> Path | None:
    """The results folder (one holding a manifest or run.json) that ``path`` lies in, up
    to ``workspace``; None when it lies in none."""
    for parent in [path, *path.parents]:
        if any((parent / marker).is_file() for marker in RESULT_MARKERS):
            return parent
        if parent == workspace:
            return None
    return None


def check_data_file(name: str, what: str, workspace: Path | None = None) -> Path:
    """A spec or data file that a results folder names (``what`` says which), resolved
    in the workspace (the working directory): refused outside the workspace or inside
    any results folder, where a folder could have put it."""
    workspace = (workspace or Path.cwd()).resolve()
    path = (workspace / name).resolve()
    if not path.is_relative_to(workspace):
        where = f"outside the workspace {workspace}"
    elif (holder := results_folder_holding(path, workspace)) is not None:
        where = f"inside the results folder {holder}"
    else:
        return path
    raise FinHgrpoError(f"{what} names {name}, {where}: specs and data are read only from "
                        "the workspace, never from a results folder")


def check_named(spec: str, named: Iterable[str | Path], what: str, hint: str) -> None:
    """A spec whose strategies run code is used only if the user named it on the command
    line (``named``); else refused, ``hint`` saying what to pass."""
    resolved = Path(spec).resolve()
    if any(Path(n).resolve() == resolved for n in named):
        return
    raise FinHgrpoError(f"{what} runs code from {spec}, which you did not name: a results "
                        f"folder never chooses code to run; {hint}")
