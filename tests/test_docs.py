"""The documentation site builds strictly: a broken link or anchor, an API name that no
longer exists, or an included example or result file that moved fails the build."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    quickstart = (tmp_path / "examples" / "index.html").read_text()
    assert "Quick start: data, an environment" in quickstart  # included at build time
    api = (tmp_path / "api" / "workspace" / "index.html").read_text()
    assert "init_workspace" in api
