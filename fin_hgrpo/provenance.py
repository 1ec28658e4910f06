"""Run provenance: ``manifest.json`` in every run folder, and what differs between two.

A manifest records what a result depends on. It holds the Python version, the versions
of the packages that compute or read the numbers, the platform and CPU model, and the
code's git commit (with whether the tree was dirty). It also holds the working
directory and command line, the seeds, a sha256 of every spec file the run read, and
a sha256 of the prices it read. ``fin-hgrpo verify`` (``fin_hgrpo.verify``) re-runs
the command and names the parts of the manifest that changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.io import atomic_write_text, read_json

MANIFEST = "manifest.json"
PACKAGES = ("fin-hgrpo", "torch", "numpy", "pandas", "quantstats", "yfinance", "gymnasium")


def environment() -> dict:
    """Python, packages, platform, CPU and the code's commit: where a run ran."""
    return {"python": platform.python_version(), "packages": _versions(),
            "platform": platform.platform(), "machine": platform.machine(),
            "cpu": cpu_model(), "git": git_state()}


def build_manifest(kind: str, *, command: list[str] | None, files: list[str | Path],
                   data_sha256: str | None, seeds: list[int] | None = None) -> dict:
    """The manifest of a run of ``kind`` (backtest, train, sweep) that read ``files``;
    ``command``: the ``fin-hgrpo`` arguments that made it (None from a script: such a
    folder cannot be re-run by ``verify``)."""
    return {"kind": kind, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command, "argv": sys.argv, "cwd": os.getcwd(), "seeds": seeds,
            **environment(), "files": {str(f): file_sha256(f) for f in dict.fromkeys(files)},
            "data_sha256": data_sha256}


def write_manifest(folder: str | Path, manifest: dict) -> Path:
    return atomic_write_text(Path(folder) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FinHgrpoError(f"{path}: no manifest (runs record one from this version on)")
    return read_json(path, "command")


def file_sha256(path: str | Path) -> str | None:
    """The file's sha256, or None if it is not there."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def panel_sha256(panel: MarketPanel) -> str:
    """A sha256 of the prices a run read: dates, tickers and every adjusted close."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(panel.dates.asi8).tobytes())
    digest.update("\0".join(panel.tickers).encode())
    digest.update(np.ascontiguousarray(panel.prices.to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def changes(recorded: dict, current: dict) -> list[str]:
    """What differs between a recorded manifest and the present: one line each."""
    lines = []
    for key in ("python", "platform", "machine", "cpu"):
        if recorded.get(key) != current.get(key):
            lines.append(f"{key}: {recorded.get(key)} -> {current.get(key)}")
    old, new = recorded.get("packages", {}), current.get("packages", {})
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            lines.append(f"package {name}: {old.get(name)} -> {new.get(name)}")
    if recorded.get("git") != current.get("git"):
        lines.append(f"code: {_describe_git(recorded.get('git'))} -> "
                     f"{_describe_git(current.get('git'))}")
    for path, digest in recorded.get("files", {}).items():
        now = current.get("files", {}).get(path, file_sha256(path))
        if now != digest:
            lines.append(f"file {path}: " + ("missing now" if now is None else "changed"))
    if current.get("data_sha256") and recorded.get("data_sha256") != current["data_sha256"]:
        lines.append("price data: changed")
    return lines


def cpu_model() -> str:
    """The CPU's model name (Linux, macOS), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def git_state() -> dict | None:
    """The commit of the checkout this package runs from and whether tracked files
    differ from it; None for an installed package outside a checkout."""
    source = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty)}


def _versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _describe_git(state: dict | None) -> str:
    if not state:
        return "not a git checkout"
    return state["commit"][:12] + (" (dirty)" if state.get("dirty") else "")
