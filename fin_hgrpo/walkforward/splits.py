"""Walk-forward splits: train on a window, skip an embargo, test on the days after.

``rolling``: the training window keeps its length and slides by ``step``; ``expanding``:
it always starts on the first day and grows. Test windows follow one another without
overlap (``step >= test``), so their out-of-sample returns stitch into one series.
Folds are laid out backwards from the end of the data: every test window is full and
the last one ends on the last decision day (the few days the layout cannot use are at
the very start, before the first training window, or inside it when expanding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from fin_hgrpo.errors import SpecError

Mode = Literal["rolling", "expanding"]


@dataclass(frozen=True)
class Fold:
    """One split; every bound is an inclusive trading date."""

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def __str__(self) -> str:
        d = [x.date() for x in (self.train_start, self.train_end, self.test_start, self.test_end)]
        return f"fold {self.index}: train {d[0]}..{d[1]}, test {d[2]}..{d[3]}"


@dataclass(frozen=True)
class WalkForward:
    """The splitter; ``split(dates)`` lays its folds over a calendar of trading dates."""

    train: int = 756
    test: int = 252
    step: int | None = None  # default: the test length
    embargo: int = 0
    mode: Mode = "rolling"

    def __post_init__(self) -> None:
        step = self.test if self.step is None else self.step
        if min(self.train, self.test, step) < 1 or self.embargo < 0:
            raise SpecError(f"walk-forward needs train, test, step >= 1 and embargo >= 0 "
                            f"(got {self.train}, {self.test}, {step}, {self.embargo})")
        if step < self.test:
            raise SpecError(f"walk-forward step ({step}) must be >= test ({self.test}): "
                            f"overlapping test windows cannot be stitched into one series")
        if self.mode not in ("rolling", "expanding"):
            raise SpecError(f"walk-forward mode must be rolling or expanding, got {self.mode!r}")

    def split(self, dates: pd.DatetimeIndex) -> list[Fold]:
        """Folds over ``dates``; the last date is never a decision day (nothing follows)."""
        step = self.test if self.step is None else self.step
        decisions = len(dates) - 1  # the last date only ends the last return
        testable = decisions - self.train - self.embargo  # days a test window could use
        if testable < self.test:
            raise SpecError(f"{len(dates)} trading days are too few for one fold of "
                            f"{self.train} training, {self.embargo} embargo and "
                            f"{self.test} test days")
        n_folds = (testable - self.test) // step + 1
        offset = testable - (n_folds - 1) * step - self.test  # unused days at the start
        folds = []
        for k in range(n_folds):
            train_end = offset + self.train - 1 + k * step
            train_start = 0 if self.mode == "expanding" else train_end - self.train + 1
            test_start = train_end + 1 + self.embargo
            folds.append(Fold(k, dates[train_start], dates[train_end], dates[test_start],
                              dates[test_start + self.test - 1]))
        return folds


def inner_folds(outer: Fold, dates: pd.DatetimeIndex, count: int, test: int,
                embargo: int = 0) -> tuple[Fold, ...]:
    """``count`` expanding walk-forward folds inside ``outer``'s training window: test
    windows of ``test`` days, one after another, the last ending on the window's last
    day; each trains on the window's start up to its test start, less the embargo (a
    nested walk-forward that sees nothing of ``outer``'s test)."""
    first = dates.get_loc(outer.train_start)
    last = dates.get_loc(outer.train_end)
    folds = []
    for i in range(count):
        test_start = last - (count - i) * test + 1
        train_end = test_start - 1 - embargo
        if train_end - first + 1 < 2 * test:
            raise SpecError(f"{count} inner folds of {test} test days leave "
                            f"{max(0, train_end - first + 1)} training days in {outer}: "
                            f"at least {2 * test} are needed")
        folds.append(Fold(i, dates[first], dates[train_end], dates[test_start],
                          dates[test_start + test - 1]))
    return tuple(folds)
