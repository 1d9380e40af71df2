"""The certification document in a real headless chromium, opened from an unpacked bundle."""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tmf699ctk._submission import NOT_VALID, SECTIONS, TITLE
from tmf699ctk._submission_bundle import read_run, write_submission
from tmf699ctk._submission_config import load_submission_inputs

from .browser import Browser, find_chromium
from .conftest import run_suite
from .test_submission import write_config

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = find_chromium()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test.sh installs "
                                                          "Debian's chromium where apt-get is available)")]
MM = 96 / 25.4  # CSS pixels per millimetre
A4_CONTENT = (210 - 32) * MM, (297 - 30) * MM  # the @page box minus its margins (submission.css)


@pytest.fixture(scope="module")
def browser() -> Browser:
    b = Browser(CHROMIUM)  # type: ignore[arg-type]
    b.open_page()
    yield b
    b.close()


def _unpacked(folder: Path, **options: object) -> Path:
    """Run, build the bundle, unzip it; return the HTML document inside the unpacked folder."""
    config = write_config(folder / "cfg")
    run_suite(folder, config_path=config, **options)
    results = folder / "report" / "results.json"
    run = read_run(results)
    outcome = write_submission(run, results, load_submission_inputs(config, run.metadata), folder / "out")
    assert outcome.bundle is not None
    with zipfile.ZipFile(outcome.bundle) as archive:
        archive.extractall(folder / "unpacked")
    return next((folder / "unpacked").glob("*/*-Conformance.html"))


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory.mktemp("sub-fail"), embedded=True,
                     faults=frozenset({"delete-noop", "no-location"}))


@pytest.fixture(scope="module")
def passing(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory.mktemp("sub-pass"), embedded=True)


def test_the_sections_are_present_in_order(browser: Browser, passing: Path) -> None:
    browser.load(passing)
    headings = browser.evaluate("Array.from(document.querySelectorAll('h1, h2')).map(e => e.textContent.trim())")
    assert headings == [TITLE, *SECTIONS]
    facts = browser.evaluate("Array.from(document.querySelectorAll('table.facts th')).map(e => e.textContent)")
    assert facts == ["Company Name", "Product Name and Release Version", "TM Forum Open API Name and Release Version",
                     "Date"]
    browser.screenshot(ARTIFACTS / "submission-passing.png", full_page=True)


def test_the_diagram_is_shown(browser: Browser, passing: Path) -> None:
    browser.load(passing)
    image = browser.evaluate("(() => { const i = document.getElementById('architecture'); "
                             "return [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]; "
                             "})()")
    assert image[0] is True and image[1:3] == [480, 240] and image[3] > 100


def test_the_report_link_resolves_inside_the_bundle_and_shows_the_same_verdict(browser: Browser,
                                                                              failing: Path) -> None:
    browser.load(failing)
    href = browser.evaluate("document.getElementById('report-link').href")
    verdict = browser.evaluate("document.querySelector('.result .verdict').textContent.trim()")
    detail = browser.evaluate("document.querySelector('.result .detail').textContent.trim()")
    target = Path(unquote(urlsplit(href).path))
    assert target.parent == failing.parent and target.is_file()
    browser.load(target)
    assert browser.evaluate("document.querySelector('.verdict').firstChild.textContent.trim()") == verdict == "FAIL"
    assert browser.evaluate("document.querySelector('.verdict small').textContent.trim()") == detail


def test_no_network_request_is_attempted(browser: Browser, failing: Path, passing: Path) -> None:
    for document in (failing, passing):
        browser.load(document)
    requests = browser.network_requests()
    assert requests and all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    assert "<script" not in failing.read_text(encoding="utf-8")


def test_a_failing_run_says_so_on_the_first_printed_page(browser: Browser, failing: Path) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", {"width": round(A4_CONTENT[0]), "height": 1200,
                                                        "deviceScaleFactor": 1, "mobile": False})
    browser.send("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        browser.load(failing)
        bottom = browser.evaluate("document.querySelector('.result').getBoundingClientRect().bottom")
        assert bottom < A4_CONTENT[1]
        assert browser.evaluate("document.querySelector('.result .not-valid').textContent") == NOT_VALID
        browser.screenshot(ARTIFACTS / "submission-failing-print.png")
    finally:
        browser.send("Emulation.setEmulatedMedia", {"media": ""})
        browser.send("Emulation.clearDeviceMetricsOverride")


def test_the_document_prints_to_a4_pdf(browser: Browser, passing: Path) -> None:
    browser.load(passing)
    data = browser.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})["data"]
    pdf = base64.b64decode(data)
    assert pdf.startswith(b"%PDF")
    sizes = {tuple(round(float(v)) for v in m) for m in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)}
    assert sizes == {(595, 842)}, sizes  # A4 in points, from the stylesheet's @page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "submission.pdf").write_bytes(pdf)
