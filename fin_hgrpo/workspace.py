"""Workspaces: the folder a user runs ``fin-hgrpo`` in, written by ``fin-hgrpo init``.

Specs name each other by paths relative to the working directory (a backtest spec's
``env = "envs/default.toml"``), so a workspace is a folder holding ``envs/``,
``strategies/`` and ``backtests/`` (results go to ``backtests/results/``) and ``data/``
(the download cache, the sample's source note). The defaults are the clone's own
tracked folders, which a wheel carries inside the package (``fin_hgrpo.defaults``), so
an installed wheel writes the workspace a clone is.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

from fin_hgrpo.defaults import SAMPLE, WORKSPACE_FOLDERS, root, sample_folder
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.io import atomic_write

SAMPLE_NOTE = Path(*SAMPLE, "README.md")


def template_files() -> dict[Path, Traversable]:
    """Every file a new workspace gets, by its path inside the workspace."""
    found: dict[Path, Traversable] = {SAMPLE_NOTE: sample_folder() / "README.md"}
    defaults = root()
    for folder in WORKSPACE_FOLDERS:
        for item in (defaults / folder).iterdir():
            if item.is_file() and not item.name.startswith("."):
                found[Path(folder) / item.name] = item
    return dict(sorted(found.items()))


def init_workspace(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the default specs and the sample's source note into ``directory``.

    Files already there are kept, so a workspace's edited specs survive a second
    ``init``; ``force=True`` overwrites them with the defaults. Each file is written
    atomically. Returns the paths written.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise FinHgrpoError(f"{root}: exists and is not a folder")
    written = []
    for relative, source in template_files().items():
        target = root / relative
        if target.exists() and not force:
            continue
        content = source.read_bytes()
        atomic_write(target, lambda tmp, content=content: tmp.write_bytes(content))
        written.append(target)
    (root / "data" / "cache").mkdir(parents=True, exist_ok=True)
    return written
