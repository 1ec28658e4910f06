"""The README's Python tour runs as written, in a workspace: the front door stays true."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow  # trains on the bundled sample and backtests it
def test_the_python_tour_runs(session_workspace, tmp_path):
    tour = re.search(r"## A short tour in Python.*?```python\n(.*?)```", README.read_text(),
                     re.S).group(1)
    script = tmp_path / "tour.py"
    script.write_text(tour)
    done = subprocess.run([sys.executable, str(script)], cwd=session_workspace,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    for name in ("hybrid_grpo_ensemble", "equal_weight", "active_share"):
        assert name in done.stdout
    assert (session_workspace / "backtests" / "results" / "tour" / "report.html").is_file()
