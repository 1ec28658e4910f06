"""A result folder read back: truncated or edited files are one error naming the file
(reliability.md #25), never a traceback or a report built from a header."""

import json
import shutil
from pathlib import Path

import pytest

from fin_hgrpo.cli import main


def _truncate(path: Path, keep: int) -> None:
    path.write_text(path.read_text()[:keep])


def _header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


@pytest.mark.parametrize(("edit", "commands", "message"), [
    (lambda f: _truncate(f / "returns.csv", 105), ("report", "risk"),  # mid-date
     "returns.csv: ends mid-line; truncated or edited?"),
    (lambda f: _truncate(f / "weights" / "equal_weight.csv", 30), ("risk",),
     "equal_weight.csv: ends mid-line"),
    (lambda f: (f / "run.json").write_text("{}"), ("report",), "run.json: has no key name"),
    (lambda f: _header_only(f / "metrics.csv"), ("report",), "metrics.csv: holds no strategy"),
    (lambda f: _truncate(f / "metrics.csv", 60), ("report",), "metrics.csv: ends mid-line"),
])
def test_a_truncated_or_emptied_result_file_is_named(edit, commands, message, classical_run,
                                                     tmp_path, capsys):
    folder = Path(shutil.copytree(classical_run.folder, tmp_path / "run"))
    edit(folder)
    for command in commands:
        argv = ["risk", f"{folder}:equal_weight"] if command == "risk" else ["report",
                                                                            str(folder)]
        assert main(argv) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and any(m in err for m in message.split("|")), err
    assert json.loads((classical_run.folder / "run.json").read_text())  # the original kept
