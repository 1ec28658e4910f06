"""The probability of backtest overfitting of what a result folder holds: a sweep's
trials, a selecting backtest's candidates, or any strategies of a backtest
(``fin-hgrpo pbo``)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import read_csv
from fin_hgrpo.measures.overfitting import Overfitting, pbo_of_runs
from fin_hgrpo.walkforward.results import read_cash_rate

_CANDIDATE = re.compile(r"_c\d+$")


@dataclass(frozen=True)
class FolderOverfitting:
    """PBO of a folder's configurations, the days it was computed on, the
    configurations' names and how their seeds were combined."""

    found: Overfitting
    days: int
    names: list[str]
    seeds: str


def folder_overfitting(folder: str | Path, patterns: list[str] | None = None, *,
                       blocks: int = 16) -> FolderOverfitting:
    """PBO by CSCV over a result folder's configurations, on the days all of them have.

    A sweep folder (``trials.csv``): its trials. A backtest folder: the strategies
    matching ``patterns`` (shell-style, ``hybrid_grpo_c*``), by default a selecting
    agent's candidates, else every strategy. A configuration's score is the mean of its
    seeds' Sharpe ratios when all have as many seeds (what the backtest's and sweep's
    own PBO do), else that of its seeds' mean daily return (seeds averaged)."""
    folder = Path(folder)
    returns_file = folder / "returns.csv"
    if not returns_file.is_file():
        raise SpecError(f"{folder}: no returns.csv; give a backtest or sweep result folder")
    returns = read_csv(returns_file, index_col=0, parse_dates=True)
    runs = _runs(folder, returns)
    names = [n for n in runs  # in the folder's order
             if patterns is None or any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if patterns is None and any(_CANDIDATE.search(n) for n in names):
        names = [n for n in names if _CANDIDATE.search(n)]
        agents = sorted({_CANDIDATE.sub("", n) for n in names})
        if len(agents) > 1:
            raise SpecError(f"{folder}: {len(agents)} agents select among candidates; name "
                            f"one family, e.g. --strategies "
                            f"{' or '.join(repr(a + '_c*') for a in agents)}")
    if len(names) < 2:
        raise SpecError(f"{folder}: PBO needs two configurations or more, "
                        f"{len(names)} match {patterns or 'the default'} "
                        f"(found: {', '.join(runs)})")
    rf = read_cash_rate(folder)
    if len({len(runs[n]) for n in names}) == 1:
        frame, columns, seeds = returns, [runs[n] for n in names], "mean of each seed's Sharpe"
    else:
        frame = pd.DataFrame({n: returns[runs[n]].mean(axis=1, skipna=False) for n in names})
        columns, seeds = [[n] for n in names], "seeds' returns averaged"
    found = pbo_of_runs(frame, columns, blocks=blocks, rf=rf)
    if found is None:
        raise SpecError(f"{folder}: the configurations share fewer than 4 days")
    return FolderOverfitting(found[0], found[1], names, seeds)


def _runs(folder: Path, returns: pd.DataFrame) -> dict[str, list[str]]:
    """Each configuration's columns of ``returns``: a sweep's ``trial<k>_seed<s>``, or a
    backtest's runs by strategy (``seeds.csv``)."""
    if (folder / "trials.csv").is_file():
        found: dict[str, list[str]] = {}
        for column in returns.columns:
            found.setdefault(column.split("_seed")[0], []).append(column)
        return found
    seeds = read_csv(folder / "seeds.csv", index_col=0)
    found = {}
    for column, strategy in seeds["strategy"].items():
        if column in returns.columns:
            found.setdefault(strategy, []).append(column)
    return found
