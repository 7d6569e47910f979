"""The HTML site in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver`` packages, which .ci/run installs) driven by Selenium through the
system chromedriver. One browser session serves the whole module.

A screenshot of index.html is saved as ``site-index.png`` in ``$ATTRBENCH_ARTIFACTS``
(.ci/run sets it to ``artifacts/``), or in pytest's temporary directory without it.
Without a browser or Selenium these tests skip with the reason, except in CI
(``CI=true``, or ``ATTRBENCH_REQUIRE_BROWSER`` set, as .ci/run does), where they fail."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from attrbench import leaderboard as lb
from attrbench.checks import SUITES
from attrbench.leaderboard import html
from test_leaderboard_site import records

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _missing() -> str:
    """Why no browser can be driven here ("" when one can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install attrbench[dev])"
    if not any(shutil.which(b) for b in BROWSERS):
        return f"no Chromium found ({', '.join(BROWSERS)}): apt-get install chromium chromium-driver"
    if not shutil.which("chromedriver"):
        return "no chromedriver found: apt-get install chromium-driver"
    return ""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A leaderboard written as pytest does, site included; the Sensitivity-n rows carry
    curves, so the page has a figure (with matplotlib)."""
    curve = {"n": [1, 2, 4], "pcc": [0.9, 0.5, 0.25], "pcc_std": [0.0] * 3, "samples": [30] * 3,
             "zero_variance": [0] * 3}  # fmt: skip
    recs = [dataclasses.replace(r, details=json.dumps(curve)) if r.suite == "sensitivity_n" else r for r in records()]
    directory = tmp_path_factory.mktemp("leaderboard")
    lb.write_leaderboard(directory, recs, {"scale": "quick", "seed": 0})
    return directory / lb.SITE_DIR


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true" or os.environ.get("ATTRBENCH_REQUIRE_BROWSER"):
            pytest.fail(f"CI must test the site in a browser: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(b) for b in BROWSERS if shutil.which(b))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def visit(browser, path: Path) -> list[dict]:
    """Load ``path``, wait for its script to have run, and return the console's errors."""
    browser.get(path.as_uri())
    browser.execute_script("return document.readyState")  # get() returns once loaded; defer scripts ran
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def column(browser, caption: str, index: int, group: int = 0) -> list[str]:
    """The visible texts of column ``index`` in row group ``group`` of the table captioned ``caption``."""
    return browser.execute_script(
        """const [caption, index, group] = arguments;
        const table = Array.from(document.querySelectorAll("table")).find(t => t.caption.textContent === caption);
        return Array.from(table.tBodies[group].rows).filter(r => !r.hidden && !r.classList.contains("group"))
            .map(r => r.cells[index].textContent.trim());""",
        caption, index, group,
    )  # fmt: skip


def headers(browser, caption: str) -> list:
    """The header cells of the table captioned ``caption``."""
    return browser.execute_script(
        """const tables = Array.from(document.querySelectorAll("table"));
        const table = tables.find(t => t.caption.textContent === arguments[0]);
        return Array.from(table.tHead.rows[0].cells);""",
        caption,
    )


def test_index_lists_every_suite_and_method_and_sorts(browser, site, tmp_path_factory):
    """index.html loads without console errors, names every suite and every method; a
    click on a header sorts the rows by it (read back, and compared with the same cells
    sorted here), a second click reverses; the controls stay in their own group."""
    from selenium.webdriver.common.by import By

    assert visit(browser, site / "index.html") == []
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav a")]
    assert nav == ["Overall", *(s.title for s in SUITES.values())]
    caption = next(c.text for c in browser.find_elements(By.TAG_NAME, "caption") if c.text.startswith("Every"))
    assert column(browser, caption, 1) == ["a", "b", "c ⚠"] and column(browser, caption, 1, group=1) == ["rnd"]

    index = 2 + list(SUITES).index("sensitivity_n")
    score = headers(browser, caption)[index]
    assert score.text.startswith(SUITES["sensitivity_n"].title)
    before = column(browser, caption, index)
    score.find_element(By.TAG_NAME, "button").click()
    ascending = column(browser, caption, index)
    assert ascending == sorted(before, key=lambda cell: float(cell.split()[0])) != before
    assert score.get_attribute("aria-sort") == "ascending"
    assert column(browser, caption, 1) == ["c ⚠", "b", "a"]  # the rows moved with their cells
    score.find_element(By.TAG_NAME, "button").click()
    assert column(browser, caption, index) == ascending[::-1]
    assert column(browser, caption, 1, group=1) == ["rnd"]

    artifacts = Path(os.environ.get("ATTRBENCH_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(artifacts / "site-index.png"))
    assert (artifacts / "site-index.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filter_by_subject_and_method(browser, site):
    """On a suite page, the subject filter hides the subject columns that do not match
    and the method filter the rows of other methods; clearing them shows everything."""
    from selenium.webdriver.common.by import By

    assert visit(browser, site / html.page_of(SUITES["sensitivity_n"])) == []
    shown = "return Array.from(document.querySelectorAll('th[data-subject]')).filter(t => !t.hidden)" \
            ".map(t => t.dataset.subject)"  # fmt: skip
    assert browser.execute_script(shown) == ["analytic/lin", "digits/mlp"]
    subject = browser.find_element(By.CSS_SELECTOR, '[data-filter="subject"]')
    subject.send_keys("digits")
    assert browser.execute_script(shown) == ["digits/mlp"]
    hidden_cells = "return Array.from(document.querySelectorAll('td')).filter(c => c.hidden).length"
    assert browser.execute_script(hidden_cells) == 4  # analytic/lin of a, b, c and the control rnd
    method = browser.find_element(By.CSS_SELECTOR, '[data-filter="method"]')
    method.send_keys("rnd")
    assert column(browser, "sensitivity_n · mean_pcc", 0) == []
    assert column(browser, "sensitivity_n · mean_pcc", 0, group=1) == ["rnd"]
    subject.clear()
    method.clear()
    browser.execute_script("document.querySelectorAll('[data-filter]').forEach(i => i.dispatchEvent("
                           "new Event('input')))")  # fmt: skip
    assert browser.execute_script(shown) == ["analytic/lin", "digits/mlp"]
    assert column(browser, "sensitivity_n · mean_pcc", 0) == ["a", "b", "c ⚠"]


def test_method_card_opens_from_the_index(browser, site):
    """A click on a method's name opens its card: its name, where it ranks, and its
    violated claim's counterexample, which opens on a click."""
    from selenium.webdriver.common.by import By

    assert visit(browser, site / "index.html") == []
    browser.find_element(By.LINK_TEXT, "b").click()
    assert browser.current_url.endswith("/" + html.card_of("b"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "b"
    summary = browser.find_element(By.TAG_NAME, "summary")
    assert "completeness" in summary.text
    pre = browser.find_element(By.CSS_SELECTOR, "details pre")
    assert not pre.is_displayed()
    summary.click()
    assert pre.is_displayed() and '"expected": 3.0' in pre.text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def crawl(browser, index: Path) -> tuple[set[str], int]:
    """Follow every link within the site from ``index`` (breadth first): each target is a
    file of the site, loads with no console error, and every image on it is drawn and has
    alt text. Returns the pages' names and the number of images."""
    from selenium.webdriver.common.by import By

    seen, queue, images = set(), [index], 0
    while queue:
        page = queue.pop(0)
        if page in seen:
            continue
        seen.add(page)
        assert page.is_file(), f"a link leads to a missing page: {page.name}"
        assert visit(browser, page) == [], page.name
        assert "ERR_FILE_NOT_FOUND" not in browser.page_source, page.name
        for img in browser.find_elements(By.TAG_NAME, "img"):
            images += 1
            assert img.get_attribute("alt"), page.name
            assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
        for link in browser.find_elements(By.CSS_SELECTOR, "a[href]"):
            href = link.get_attribute("href")
            if href.startswith("file://"):
                queue.append(Path(unquote(urlparse(href).path)))
    return {p.name for p in seen}, images


def test_every_link_resolves_and_no_page_logs_an_error(browser, site):
    """Every page of the site is reached from index.html by links, every link resolves,
    no page logs a console error and every figure is drawn."""
    names, images = crawl(browser, site / "index.html")
    assert names == {p.name for p in site.glob("*.html")}
    assert {"index.html", *(html.page_of(s) for s in SUITES.values())} <= names
    assert {html.card_of(m) for m in ("a", "b", "c", "rnd")} <= names
    if lb.figures.available():
        assert images >= 1  # the Sensitivity-n figure


def test_the_committed_results_render_with_every_method_and_suite(browser, tmp_path):
    """``attrbench leaderboard leaderboards/results.jsonl --html DIR`` on the committed rows
    (figures: the committed PNGs, not redrawn): every suite and every method of the file
    has its page, reached by links from the index, with no console error, and the overall
    table lists every method."""
    from attrbench.leaderboard import store

    from selenium.webdriver.common.by import By

    committed = Path(__file__).resolve().parents[1] / "leaderboards"
    metadata, rows = lb.read_results(committed / "results.jsonl")
    figures = {p.name: p.read_bytes() for p in committed.glob("*.png")}
    site = store.replace_directory(tmp_path / "site", html.render_site(rows, metadata, figure_files=figures))
    names, images = crawl(browser, site / "index.html")
    methods = {r.method for r in rows}
    assert {html.card_of(m) for m in methods} | {html.page_of(s) for s in SUITES.values()} <= names
    suites = {r.suite for r in rows}
    # every figure of a suite in the file: each curve set's plots, and the pixel-pair figure
    expected = sum(len(c.plots) for s in SUITES.values() if s.name in suites for c in s.all_curves)
    expected += sum(1 for s in SUITES.values() if s.name in suites and s.pair_figure is not None)
    assert images == expected
    visit(browser, site / "index.html")
    listed = {a.text.split(" ")[0] for a in browser.find_elements(By.CSS_SELECTOR, "table a[href^='method-']")}
    assert listed == methods
