"""``fin-hgrpo verify DIR``: re-run what a run's manifest describes and compare.

The same command on the same machine, code, specs and prices gives identical files;
that is tested. On another CPU, or with other package versions, the rounding differs
and an RL run amplifies it, so an agent's numbers drift. The verification names what
changed in the manifest (packages, platform, CPU, code, spec files, prices, the
working directory) and how far each result file moved. Columns that measure time
(seconds, states per second) are left out of the comparison.

A results folder is data that people share: its manifest must never make verify run
code the user did not choose (``fin_hgrpo.trust``). The re-run happens in the current
working directory (the user's workspace), whatever directory the manifest names; it
may only be one of fin-hgrpo's own ``backtest``, ``train`` or ``sweep`` commands with
their plain flags (no executor, Ray address, TensorBoard folder or resumed run); the
specs and data files it reads must lie in the workspace, outside every results folder;
and a spec whose strategies run code must be one the user names with ``--spec``, its
code the one the manifest recorded (sha256). Anything else is refused, saying why.

The re-run writes what the recorded command wrote, with its options (tearsheets
included), and exactly those files are compared: files written into the folder later
(``weights``' targets, a ``risk`` report) are not the run's.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.provenance import changes, file_sha256, read_manifest
from fin_hgrpo.trust import check_data_file, check_named

TIMING = re.compile(r"second|elapsed|wall")  # columns that measure time, not results
DRIFT_FILES = ("returns.csv", "metrics.csv", "trials.csv")  # summarised first
# what a re-run may be: a command, its flags that take a value, its flags that do not
COMMANDS = {
    "backtest": ({"--seeds", "--workers", "--out"}, {"--quick", "--no-tearsheets"}),
    "train": ({"--env", "--steps", "--seed", "--seeds", "--out", "--device"}, set()),
    "sweep": ({"--workers", "--out"}, set()),
}


@dataclass(frozen=True)
class Verification:
    """``changes``: what differs in the manifest; ``differences``: each result file's
    largest absolute difference (0: identical, inf: its shape or labels changed, nan:
    missing from the re-run); ``sharpe``: each strategy's re-run Sharpe minus the
    recorded one (backtests); ``missing``: result files the re-run wrote that the
    recorded folder lacks (deleted since)."""

    changes: list[str]
    differences: dict[str, float]
    sharpe: pd.Series | None
    missing: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)  # what was re-run
    where: dict[str, str] = field(default_factory=dict)  # each differing file's largest cell

    @property
    def identical(self) -> bool:
        return not self.missing and all(v == 0 for v in self.differences.values())

    def lines(self) -> list[str]:
        out = [f"re-ran: fin-hgrpo {' '.join(self.command)}"] if self.command else []
        out += [f"manifest: {line}" for line in self.changes] or ["manifest: nothing changed"]
        same = [k for k, v in self.differences.items() if v == 0]
        out.append(f"identical: {len(same)} of {len(self.differences) + len(self.missing)} "
                   "result files")
        out += [f"differs: {name}: missing from the recorded folder (deleted since the run)"
                for name in self.missing]
        for name, value in self.differences.items():
            if value != 0:
                what = ("missing from the re-run" if np.isnan(value) else
                        "shape or labels changed" if np.isinf(value) else
                        f"largest difference {value:.3g}")
                at = f" ({self.where[name]})" if name in self.where else ""
                out.append(f"differs: {name}: {what}{at}")
        if self.sharpe is not None and (self.sharpe != 0).any():
            worst = self.sharpe.abs().idxmax()
            out.append(f"Sharpe drift: largest {self.sharpe[worst]:+.4f} ({worst}); "
                       f"mean |drift| {self.sharpe.abs().mean():.4f}")
        if not self.identical and not self.changes:
            out.append("nothing the run read changed, yet the files above did: they were "
                       "edited or deleted after the run (or this machine does not repeat a "
                       "source of nondeterminism)")
        elif not self.identical and any(line.startswith(("file ", "price data"))
                                        for line in self.changes):
            out.append("the re-run read the spec files and prices as they are now; the "
                       "changes above are inputs, so the results are expected to differ")
        elif not self.identical:
            out.append("the changes above can explain the drift: another CPU or library "
                       "rounds differently, and an RL run amplifies it")
        return out


def verify(folder: str | Path, run: Callable[[Sequence[str]], int],
           specs: Sequence[str | Path] = ()) -> Verification:
    """Re-run the ``fin-hgrpo`` command recorded in ``folder``'s manifest with ``run``
    (the CLI's ``main``; in this working directory, into a temporary folder) and compare
    the files it writes. ``specs``: the specs the user names, the only ones whose
    custom strategies' code may run."""
    folder = Path(folder).resolve()
    manifest = read_manifest(folder)
    command = manifest.get("command")
    if not command or command[0] not in COMMANDS:
        raise FinHgrpoError(f"{folder}: made by {' '.join(manifest.get('argv', []))!r}, not "
                            "by fin-hgrpo backtest, train or sweep: nothing to re-run")
    workdir = Path.cwd().resolve()
    _check_command(command, folder, workdir, manifest, specs)
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
        changed = changes(manifest, current)
        if manifest.get("cwd") != current.get("cwd"):
            changed.append(f"working directory: {manifest.get('cwd')} -> {current.get('cwd')}")
        written, kept = _csv_names(rerun), _csv_names(folder)
        compared = {name: _difference(folder / name, rerun / name)
                    for name in _ordered(written & kept)}
        return Verification(changed, {n: v for n, (v, _) in compared.items()},
                            _sharpe_drift(folder, rerun), sorted(written - kept),
                            command, {n: w for n, (_, w) in compared.items() if w})


def _check_command(command: list[str], folder: Path, workdir: Path, manifest: dict,
                   named: Sequence[str | Path]) -> None:
    """Refuse a recorded command that is not a plain re-run of fin-hgrpo's own, that
    reads a file outside the workspace or inside a results folder, or that runs code
    from a spec the user did not name (or code other than the recorded)."""
    kind = command[0]
    valued, flags = COMMANDS[kind]
    specs, envs, rest = [], [], iter(command[1:])
    for arg in rest:
        name = arg.split("=", 1)[0]
        if name in flags:
            continue
        if name in valued:
            value = arg.split("=", 1)[1] if "=" in arg else next(rest, "")
            if name == "--env":
                envs.append(value)
            continue
        if arg.startswith("-"):
            raise FinHgrpoError(f"{folder}: the manifest's command has {arg!r}: verify re-runs "
                                f"only fin-hgrpo {kind} with its plain options")
        specs.append(arg)
    what = f"{folder}/manifest.json's command"
    for name in [*specs, *envs]:
        check_data_file(name, what, workdir)
    data, code = _files_read(kind, specs, envs)
    for name in data:
        check_data_file(name, what + " (through its specs)", workdir)
    recorded = manifest.get("files", {})
    for spec, files in code.items():
        check_named(spec, named, what, f"name the spec to run it: fin-hgrpo verify "
                                       f"{folder} --spec {spec}")
        for file in files:
            if file_sha256(file) != recorded.get(file):
                raise FinHgrpoError(f"{file}: the code {spec} runs is not the code the run "
                                    "recorded (its sha256 differs): verify re-runs the "
                                    "recorded code only")


def _files_read(kind: str, specs: list[str], envs: list[str]
                ) -> tuple[list[str], dict[str, list[str]]]:
    """The data files a command's specs read besides themselves (envs, agent specs,
    price, membership and dated files), and by spec the custom strategies' code files
    it would run. Specs are parsed, never run: no module is imported here."""
    from fin_hgrpo.backtest import BacktestSpec
    from fin_hgrpo.config import load_spec
    from fin_hgrpo.envs import EnvSpec
    from fin_hgrpo.studies.sweep import SweepSpec

    data = [name for env in envs for name in EnvSpec.load(env).files()]
    backtests = list(specs) if kind == "backtest" else []
    for name in specs if kind == "sweep" else []:
        sweep = load_spec(name, SweepSpec)
        data += [sweep.backtest, sweep.agent]
        backtests.append(sweep.backtest)
    code = {}
    for name in backtests:
        spec = load_spec(name, BacktestSpec)
        data += [f for f in spec.files() if f not in spec.code_files()]
        if spec.code_files():
            code[name] = spec.code_files()
    return data, code


def _ordered(names: set[str]) -> list[str]:
    return sorted(names, key=lambda n: (n not in DRIFT_FILES, n))


def _csv_names(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.csv")}


def _difference(a: Path, b: Path) -> tuple[float, str]:
    """The largest absolute difference between two CSVs and where it is (its first
    column's label and the column), inf when their shape or labels differ."""
    try:
        left, right = pd.read_csv(a), pd.read_csv(b)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return float("inf"), f"unreadable: {type(exc).__name__}"
    keep = [c for c in left.columns if not TIMING.search(c)]
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return float("inf"), ""
    left, right = left[keep], right[keep]
    numeric = left.select_dtypes("number").columns
    labels = [c for c in keep if c not in numeric]
    if not left[labels].fillna("").astype(str).equals(right[labels].fillna("").astype(str)):
        return float("inf"), ""
    x, y = left[numeric].to_numpy(float), right[numeric].to_numpy(float)
    both_nan = np.isnan(x) & np.isnan(y)
    if (np.isnan(x) != np.isnan(y)).any():
        return float("inf"), ""
    gaps = np.abs(np.where(both_nan, 0.0, x - y))
    if not gaps.size or gaps.max() == 0:
        return 0.0, ""
    row, column = np.unravel_index(np.argmax(gaps), gaps.shape)
    return float(gaps[row, column]), f"{left.iloc[row, 0]}, {numeric[column]}"


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
    """The recorded arguments, with their options, writing to ``out``."""
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
    return [*argv, "--out", os.fspath(out)]
