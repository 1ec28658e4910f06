"""Every figure the README and the docs quote is what its run's files give: a figure
edited by hand, or a run file replaced without rewriting the docs, fails here by name."""

import json
import shutil
from pathlib import Path

import pytest

from tools import figures

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The README, the docs' pages and the run files they quote, in a folder of their own."""
    shutil.copy(ROOT / "README.md", tmp_path)
    (tmp_path / "docs").mkdir()
    for page in (ROOT / "docs").glob("*.md"):
        shutil.copy(page, tmp_path / "docs")
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    return tmp_path


def test_every_quoted_figure_is_what_its_runs_files_give():
    stale = figures.check(ROOT)
    assert not stale, "run `make figures`:\n" + "\n".join(map(str, stale))


def test_the_readme_quotes_the_main_job_the_demo_and_ci_from_their_files():
    quoted = {m["name"] for m in figures.MARKER.finditer((ROOT / "README.md").read_text())}
    assert {"demo.timing", "main_job.summary", "main_job.verdict", "ci.fast", "ci.slow",
            "ci.total"} <= quoted


def test_a_figure_edited_by_hand_is_named(copy):
    readme = copy / "README.md"
    text = readme.read_text()
    assert "| **Hybrid GRPO, shrunk** | **0.89 ± 0.01" in text
    readme.write_text(text.replace("| **Hybrid GRPO, shrunk** | **0.89 ± 0.01",
                                   "| **Hybrid GRPO, shrunk** | **0.99 ± 0.01"))
    [stale] = figures.check(copy)
    assert (stale.document, stale.name) == ("README.md", "main_job.summary")
    assert "written:  | **Hybrid GRPO, shrunk** | **0.99" in str(stale)
    assert "computed: | **Hybrid GRPO, shrunk** | **0.89" in str(stale)
    figures.check(copy, write=True)
    assert readme.read_text() == text and figures.check(copy) == []


def test_a_new_run_record_makes_every_figure_quoting_it_stale(copy):
    path = copy / "docs" / "results" / "timings" / "ci.json"
    record = json.loads(path.read_text())
    record["tests"][0]["passed"] += 1
    path.write_text(json.dumps(record))
    stale = figures.check(copy)
    assert {(s.document, s.name) for s in stale} == {("README.md", "ci.fast"),
                                                    ("docs/development.md", "ci.fast")}


def test_an_unknown_figure_or_one_opening_a_line_is_refused(copy):
    page = copy / "docs" / "extra.md"
    page.write_text("Took <!-- figure demo.timed -->x<!-- /figure -->.\n")
    with pytest.raises(KeyError, match="docs/extra.md: no figure named demo.timed"):
        figures.check(copy)
    page.write_text("<!-- figure ci.fast -->x<!-- /figure --> on two cores.\n")
    with pytest.raises(ValueError, match="figure ci.fast opens a line"):
        figures.check(copy)


def test_a_marker_shown_in_a_code_block_is_left_as_written(copy):
    page = copy / "docs" / "extra.md"
    page.write_text("```markdown\nIt took <!-- figure demo.timing -->...<!-- /figure -->\n```\n")
    assert figures.check(copy, write=True) == []
    assert "<!-- figure demo.timing -->...<!-- /figure -->" in page.read_text()
