"""Where the default workspace lives: the specs, the example strategy and the sample.

In a clone they are the tracked top-level folders ``envs/``, ``strategies/``,
``backtests/`` and ``data/sample/``; a wheel carries the same files inside the package
as ``fin_hgrpo/_defaults/`` (``pyproject.toml`` maps them there). One lookup serves both,
so ``fin-hgrpo init`` and the sample loader read the same files either way.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from fin_hgrpo.errors import FinHgrpoError

WORKSPACE_FOLDERS = ("envs", "strategies", "backtests")
SAMPLE = ("data", "sample")


def root() -> Traversable:
    """The default workspace: packaged in a wheel, else the source checkout's top level.

    The packaged copy is looked for first: applied to an installed wheel, the checkout
    guess would search ``site-packages/``, where a stray ``envs/`` could match.
    """
    packaged = files("fin_hgrpo") / "_defaults"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "envs" / "default.toml").is_file():
        return checkout
    raise FinHgrpoError("the default specs are missing from this installation of "
                        "fin_hgrpo (neither fin_hgrpo/_defaults nor a checkout's envs/)")


def sample_folder() -> Traversable:
    """The bundled sample: its price files and their source note."""
    return root().joinpath(*SAMPLE)
