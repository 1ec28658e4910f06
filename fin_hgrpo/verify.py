"""``fin-hgrpo verify DIR``: re-run what a run's manifest describes and compare.

The same command on the same machine, code, specs and prices gives identical files;
that is tested. On another CPU, or with other package versions, the rounding differs
and an RL run amplifies it, so an agent's numbers drift. The verification names what
changed in the manifest (packages, platform, CPU, code, spec files, prices) and how
far each result file moved. Columns that measure time (seconds, states per second)
are left out of the comparison.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.provenance import changes, read_manifest

TIMING = re.compile(r"second|elapsed|wall")  # columns that measure time, not results
DRIFT_FILES = ("returns.csv", "metrics.csv", "trials.csv")  # summarised first


@dataclass(frozen=True)
class Verification:
    """``changes``: what differs in the manifest; ``differences``: each result file's
    largest absolute difference (0: identical, inf: its shape or labels changed, nan:
    missing from the re-run); ``sharpe``: each strategy's re-run Sharpe minus the
    recorded one (backtests)."""

    changes: list[str]
    differences: dict[str, float]
    sharpe: pd.Series | None

    @property
    def identical(self) -> bool:
        return all(v == 0 for v in self.differences.values())

    def lines(self) -> list[str]:
        out = [f"manifest: {line}" for line in self.changes] or ["manifest: nothing changed"]
        same = [k for k, v in self.differences.items() if v == 0]
        out.append(f"identical: {len(same)} of {len(self.differences)} result files")
        for name, value in self.differences.items():
            if value != 0:
                what = ("missing from the re-run" if np.isnan(value) else
                        "shape or labels changed" if np.isinf(value) else
                        f"largest difference {value:.3g}")
                out.append(f"differs: {name}: {what}")
        if self.sharpe is not None and (self.sharpe != 0).any():
            worst = self.sharpe.abs().idxmax()
            out.append(f"Sharpe drift: largest {self.sharpe[worst]:+.4f} ({worst}); "
                       f"mean |drift| {self.sharpe.abs().mean():.4f}")
        if not self.identical and not self.changes:
            out.append("nothing in the manifest changed, yet the results did: a source of "
                       "nondeterminism this machine does not repeat")
        elif not self.identical and any(line.startswith(("file ", "price data"))
                                        for line in self.changes):
            out.append("the re-run read the spec files and prices as they are now; the "
                       "changes above are inputs, so the results are expected to differ")
        elif not self.identical:
            out.append("the changes above can explain the drift: another CPU or library "
                       "rounds differently, and an RL run amplifies it")
        return out


def verify(folder: str | Path, run: Callable[[Sequence[str]], int]) -> Verification:
    """Re-run the ``fin-hgrpo`` command recorded in ``folder``'s manifest with ``run``
    (the CLI's ``main``; from the working directory it ran in, into a temporary folder)
    and compare the results."""
    folder = Path(folder).resolve()
    manifest = read_manifest(folder)
    command = manifest.get("command")
    if not command or command[0] not in ("backtest", "train", "sweep"):
        raise FinHgrpoError(f"{folder}: made by {' '.join(manifest.get('argv', []))!r}, not "
                            "by fin-hgrpo backtest, train or sweep: nothing to re-run")
    workdir = Path(manifest["cwd"]) if Path(manifest["cwd"]).is_dir() else Path.cwd()
    with tempfile.TemporaryDirectory(prefix="fin-hgrpo-verify-") as tmp:
        rerun = Path(tmp) / folder.name
        argv = _rerun_arguments(command, rerun)
        output = io.StringIO()
        with contextlib.chdir(workdir), contextlib.redirect_stdout(output):
            status = run(argv)
        if status != 0:
            raise FinHgrpoError(f"the re-run of {' '.join(command)!r} in {workdir} failed "
                                f"(status {status}):\n{output.getvalue()}")
        current = read_manifest(rerun)
        with contextlib.chdir(workdir):
            changed = changes(manifest, current)
        return Verification(changed, compare_folders(folder, rerun),
                            _sharpe_drift(folder, rerun))


def compare_folders(recorded: Path, rerun: Path) -> dict[str, float]:
    """Each CSV of ``recorded``: the largest absolute difference from the re-run's."""
    names = sorted(p.relative_to(recorded).as_posix() for p in recorded.rglob("*.csv"))
    names.sort(key=lambda n: (n not in DRIFT_FILES, n))
    return {name: _difference(recorded / name, rerun / name) for name in names}


def _difference(a: Path, b: Path) -> float:
    if not b.is_file():
        return float("nan")
    left, right = pd.read_csv(a), pd.read_csv(b)
    keep = [c for c in left.columns if not TIMING.search(c)]
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return float("inf")
    left, right = left[keep], right[keep]
    numeric = left.select_dtypes("number").columns
    labels = [c for c in keep if c not in numeric]
    if not left[labels].fillna("").astype(str).equals(right[labels].fillna("").astype(str)):
        return float("inf")
    x, y = left[numeric].to_numpy(float), right[numeric].to_numpy(float)
    both_nan = np.isnan(x) & np.isnan(y)
    if (np.isnan(x) != np.isnan(y)).any():
        return float("inf")
    return float(np.max(np.abs(np.where(both_nan, 0.0, x - y)), initial=0.0))


def _sharpe_drift(recorded: Path, rerun: Path) -> pd.Series | None:
    a, b = recorded / "metrics.csv", rerun / "metrics.csv"
    if not (a.is_file() and b.is_file()):
        return None
    old = pd.read_csv(a, index_col=0)
    new = pd.read_csv(b, index_col=0)
    if "sharpe" not in old or "sharpe" not in new:
        return None
    return (new["sharpe"] - old["sharpe"]).dropna()


def _rerun_arguments(command: list[str], out: Path) -> list[str]:
    """The recorded arguments writing to ``out``, without tearsheets (not compared)."""
    argv, skip = [], False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg == "--out":
            skip = True
            continue
        if arg.startswith("--out="):
            continue
        argv.append(arg)
    if argv[0] == "backtest" and "--no-tearsheets" not in argv:
        argv.append("--no-tearsheets")
    return [*argv, "--out", os.fspath(out)]
