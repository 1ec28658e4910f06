"""The trust boundary: a results folder is data that people share and download, so
nothing in one may choose code to run. Code (a custom strategy's module) and the specs
that name it are read only from the user's workspace, never from inside a results
folder, and never from outside the workspace when a results folder named them."""

from __future__ import annotations

from pathlib import Path

from fin_hgrpo.errors import FinHgrpoError


def check_inside_workspace(name: str, folder: Path, what: str,
                           workspace: Path | None = None) -> Path:
    """``name`` resolved in the workspace (the working directory by default), refused
    if it lies inside the results ``folder`` that named it, or outside the workspace;
    ``what`` says who named it, for the message."""
    workspace = (workspace or Path.cwd()).resolve()
    folder = Path(folder).resolve()
    path = (workspace / name).resolve()
    if path.is_relative_to(folder):
        where = f"inside {folder}"
    elif not path.is_relative_to(workspace):
        where = f"outside the workspace {workspace}"
    else:
        return path
    raise FinHgrpoError(f"{what} names {name}, {where}: code and specs are read only from "
                        "the workspace, never chosen by a results folder")
