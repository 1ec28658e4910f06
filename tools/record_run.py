"""Run a command and record what the documentation quotes of it: how long it took, the
peak memory of all its processes, the test counts pytest printed, the machine and the
date, as JSON that ``tools/figures.py`` reads.

    python3 tools/record_run.py --out docs/results/timings/demo.json -- make demo

Standard library only: it runs before the project's environment exists (``make demo``
from a fresh clone builds it). The command's output still goes to the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

# pytest's last line: "731 passed, 5 skipped, 41 deselected in 126.24s (0:02:06)"
PYTEST_SUMMARY = re.compile(r"(\d+) passed(?P<rest>[^\n]*?) in (?P<seconds>[\d.]+)s")
SAMPLE_SECONDS = 0.5


def machine() -> dict:
    """The cores, CPU model, memory, OS and Python of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                      if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(memory_kb / 2**20),
            "os": platform.system(), "python": platform.python_version()}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def tree_rss(root: int) -> int:
    """Resident memory, in bytes, of ``root`` and every process below it."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _read(f"/proc/{entry.name}/status")
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "PPid" in fields:
            pid = int(entry.name)
            parents[pid] = int(fields["PPid"])
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    below = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in below and pid not in below:
                below.add(pid)
                grew = True
    return sum(rss.get(pid, 0) for pid in below)


def pytest_runs(output: str) -> list[dict]:
    """Each pytest summary in ``output``, in order: passed, skipped, seconds."""
    runs = []
    for match in PYTEST_SUMMARY.finditer(output):
        skipped = re.search(r"(\d+) skipped", match["rest"])
        runs.append({"passed": int(match[1]), "skipped": int(skipped[1]) if skipped else 0,
                     "seconds": float(match["seconds"])})
    return runs


def record(command: list[str], cwd: Path) -> dict:
    """Run ``command`` in ``cwd``, echoing its output, and return its record."""
    started, peak = time.perf_counter(), 0
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)

        def sample() -> None:
            nonlocal peak
            while process.poll() is None:
                peak = max(peak, tree_rss(process.pid))
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        process.wait()
        sampler.join()
        log.seek(0)
        output = log.read()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                            text=True).stdout.strip()
    return {"command": shlex.join(command), "date": datetime.now(UTC).date().isoformat(),
            "machine": machine(), "commit": commit, "exit": process.returncode,
            "seconds": round(time.perf_counter() - started, 1), "peak_rss_bytes": peak,
            "tests": pytest_runs(output)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON record to write")
    parser.add_argument("--cwd", type=Path, default=Path.cwd(), help="where to run it")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    result = record(command, args.cwd)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staged = args.out.with_name(args.out.name + ".tmp")
    staged.write_text(json.dumps(result, indent=2) + "\n")
    staged.replace(args.out)  # atomic: a killed run leaves the previous record
    print(f"{args.out}: {result['seconds']} s, exit {result['exit']}", file=sys.stderr)
    return result["exit"]


if __name__ == "__main__":
    sys.exit(main())
