"""Every report a user opens, opened in a real browser: Debian's headless Chromium driven
by Selenium through Debian's chromedriver (no browser download). A page passes when
every image loads, the console has no error, every link in it resolves, and its
verdict and summary are there; a screenshot of each is kept."""

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from fin_hgrpo.cli import main
from tests.conftest import TINY_CLASSICAL

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium")
SWEEP = """
name = "browser_sweep"
backtest = "backtests/tiny_agents.toml"
agent = "strategies/ppo_tiny.toml"
steps = 64
holdout_folds = 1
search = "random"
trials = 3
[space]
learning_rate = { low = 1e-4, high = 1e-2, log = true }
"""

pytestmark = pytest.mark.slow  # a browser, and the runs behind four reports


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, its console kept."""
    assert CHROMEDRIVER and CHROMIUM, "needs Debian's chromium and chromium-driver " \
                                      "(apt-get install chromium chromium-driver; .ci/run does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                 "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def reports(tmp_path_factory, classical_run) -> dict[str, Path]:
    """A backtest, a risk, a sweep and a CPCV report, each from a small run."""
    folder = tmp_path_factory.mktemp("reports")
    Path("backtests/browser_cv.toml").write_text(
        TINY_CLASSICAL.replace('name = "tiny_classical"', 'name = "browser_cv"')
        + "[cv]\ngroups = 4\ntest_groups = 2\n")
    Path("backtests/browser_sweep.toml").write_text(SWEEP)
    assert main(["risk", f"{classical_run.folder}:equal_weight", "--out",
                 str(folder / "risk")]) == 0
    assert main(["sweep", "backtests/browser_sweep.toml", "--workers", "1", "--out",
                 str(folder / "sweep")]) == 0
    assert main(["backtest", "backtests/browser_cv.toml", "--workers", "1", "--out",
                 str(folder / "cv")]) == 0
    return {"backtest": classical_run.folder / "report.html",
            "risk": folder / "risk" / "report.html",
            "sweep": folder / "sweep" / "report.html", "cpcv": folder / "cv" / "report.html"}


def problems(driver, page: Path) -> list[str]:
    """What is wrong with ``page`` in the browser: images that did not load, console
    errors, links that lead nowhere."""
    driver.get_log("browser")  # what earlier pages logged
    driver.get(page.resolve().as_uri())
    found = [f"image {src[:80]} did not load" for src in driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))")]
    found += [f"console: {entry['message']}" for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE"]
    for href in driver.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => a.href)"):
        url = urlparse(href)
        if url.scheme == "file" and not Path(unquote(url.path)).exists():
            found.append(f"link {href} leads to no file")
        elif url.fragment and url.path == urlparse(page.resolve().as_uri()).path and \
                not driver.execute_script("return !!document.getElementById(arguments[0])",
                                          url.fragment):
            found.append(f"link #{url.fragment} leads to no element")
    return found


@pytest.mark.parametrize(("name", "headings"), [
    ("backtest", ["Verdict", "Summary"]),
    ("risk", ["Where the risk comes from", "Whether the VaR holds"]),
    ("sweep", ["Verdict", "Trials", "Optimisation history"]),
    ("cpcv", ["Verdict", "Summary", "CPCV: Sharpe over paths"]),
])
def test_a_report_loads_whole_in_a_browser(name, headings, browser, reports,
                                           tmp_path_factory):
    page = reports[name]
    assert problems(browser, page) == []
    shown = browser.execute_script(
        "return [...document.querySelectorAll('h2')].map(h => h.textContent)")
    for heading in headings:
        assert any(h.startswith(heading) for h in shown), (heading, shown)
    verdict = browser.execute_script(
        "const v = document.querySelector('.verdict'); return v ? v.innerText : ''")
    assert verdict.strip()  # the verdict says something
    shot = tmp_path_factory.getbasetemp() / "screenshots" / f"{name}.png"
    shot.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_a_broken_image_or_link_is_caught(browser, reports, tmp_path):
    """The checks can fail: one image's source and one link pointed at missing files."""
    folder = Path(shutil.copytree(reports["backtest"].parent, tmp_path / "broken"))
    page = folder / "report.html"
    text = page.read_text()
    page.write_text(text.replace('<img alt="', '<img src="plots/missing.png" alt="', 1)
                    .replace("</body>", "<a href='tearsheets/gone.html'>gone</a></body>"))
    found = problems(browser, page)
    assert any("image plots/missing.png did not load" in p for p in found), found
    assert any("gone.html leads to no file" in p for p in found), found
