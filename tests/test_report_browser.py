"""The HTML report in a real headless chromium: content, filters, no network, no injected script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tmf699ctk._outputs import write_outputs
from tmf699ctk._results import RunResult
from tmf699ctk._view import PARTIAL_BANNER

from .browser import Browser, find_chromium
from .conftest import run_suite
from .reportdata import HOSTILE
from .scoperuns import SCOPES, scope_run

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = find_chromium()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test.sh installs "
                                                          "Debian's chromium where apt-get is available)")]


@pytest.fixture(scope="module")
def browser() -> Browser:
    b = Browser(CHROMIUM)  # type: ignore[arg-type]
    b.open_page()
    yield b
    b.close()


def _report(folder: Path, **options: object) -> tuple[RunResult, Path]:
    result = run_suite(folder, **options)
    results = folder / "report" / "results.json"
    html = write_outputs(result, results).paths[0]
    return result, html


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory) -> tuple[RunResult, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    config = folder / "c.yaml"
    name = json.dumps(HOSTILE + " {{ run_id }}")
    config.write_text(f"report:\n  company: ACME\n  product: {json.dumps(HOSTILE)}\npayloads:\n  salesLead:\n"
                      f"    full:\n      name: {name}\n      priority: high\n    minimal:\n      name: {name}\n")
    return _report(folder, embedded=True, faults=frozenset({"delete-noop", "no-location"}), config_path=config)


def test_a_failing_report_shows_verdict_counts_and_the_failure(browser: Browser, failing_report) -> None:
    result, html = failing_report
    assert html.name == "ACME-TMF699-v4.0.0-HTMLReport.html"
    browser.load(html)
    assert browser.evaluate("document.querySelector('.verdict').firstChild.textContent.trim()") == "FAIL"
    assert browser.evaluate("document.getElementById('checks-total').textContent") == str(
        result.summary["checks"]["total"])
    assert browser.evaluate("document.getElementById('requests-total').textContent") == str(
        result.summary["requests"]["total"])
    failures = browser.evaluate("Array.from(document.querySelectorAll('#failures ~ article h3 code, "
                                "section article h3 code')).map(e => e.textContent)")
    assert "TMF699-DELETE-03" in failures and "TMF630-LOCATION-01" in failures
    browser.screenshot(ARTIFACTS / "report-failing.png", full_page=True)


def test_no_injected_script_ran_and_hostile_text_is_shown_as_text(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.load(html)
    assert browser.evaluate("window.__pwned") is None
    assert not browser.method_seen("Page.javascriptDialogOpening")
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate(f"document.body.textContent.includes({json.dumps(HOSTILE)})") is True


def test_no_network_request_is_attempted(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.load(html)
    requests = browser.network_requests()
    assert requests and all(url.startswith(("file:", "data:", "about:")) for url in requests), requests


def test_filters_and_expand_all_work(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.load(html)
    visible = "Array.from(document.querySelectorAll('#requests details.step')).filter(e => e.offsetParent).length"
    total_steps = browser.evaluate("document.querySelectorAll('#requests details.step').length")
    failed_steps = browser.evaluate("document.querySelectorAll('#requests details.step.has-failed').length")
    assert 0 < failed_steps < total_steps
    browser.evaluate("for (const d of document.querySelectorAll('#requests details.scenario')) d.open = true")
    assert browser.evaluate(visible) == total_steps
    browser.evaluate("document.getElementById('only-failed').click()")
    assert browser.evaluate(visible) == failed_steps
    browser.evaluate("document.getElementById('only-failed').click()")
    browser.evaluate("document.getElementById('only-optional').click()")
    optional_steps = browser.evaluate("document.querySelectorAll('#requests details.step.has-optional').length")
    assert 0 < browser.evaluate(visible) == optional_steps < total_steps
    browser.evaluate("document.getElementById('only-optional').click()")
    browser.evaluate("document.getElementById('collapse-all').click()")
    assert browser.evaluate("document.querySelectorAll('#requests details[open]').length") == 0
    browser.evaluate("document.getElementById('expand-all').click()")
    assert browser.evaluate("document.querySelectorAll('#requests details:not([open])').length") == 0


def test_the_report_is_readable_without_javascript(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.send("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.load(html)
        assert browser.evaluate("document.documentElement.classList.contains('js')") is False
        controls = browser.evaluate("getComputedStyle(document.querySelector('.controls')).display")
        assert controls == "none"  # filters need JS, so they are hidden without it
        assert "TMF699-DELETE-03" in browser.evaluate("document.getElementById('failures').parentElement.innerText")
    finally:
        browser.send("Emulation.setScriptExecutionDisabled", {"value": False})


def test_a_passing_report_renders(browser: Browser, tmp_path: Path) -> None:
    result, html = _report(tmp_path, embedded=True)
    assert result.verdict == "PASS"
    browser.load(html)
    assert browser.evaluate("document.querySelector('.verdict').firstChild.textContent.trim()") == "PASS"
    assert browser.evaluate("document.querySelectorAll('#failures ~ article').length") == 0
    browser.screenshot(ARTIFACTS / "report-passing.png")


def test_the_report_prints_to_pdf(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.load(html)
    pdf = browser.send("Page.printToPDF", {"printBackground": True})["data"]
    assert len(pdf) > 10_000


@pytest.fixture(scope="module", params=SCOPES)
def scoped_report(request, tmp_path_factory) -> tuple[str, RunResult, Path]:
    result, folder = scope_run(request.param, tmp_path_factory.mktemp(f"scope-{request.param}"))
    [html] = folder.glob("*.html")
    return request.param, result, html


def test_a_partial_custom_or_insecure_run_shows_it_on_the_cover(browser: Browser, scoped_report) -> None:
    kind, result, html = scoped_report
    assert result.scope["complete"] is (kind == "insecure")
    browser.load(html)
    weakened = browser.evaluate("document.getElementById('weakened').innerText")
    banner = browser.evaluate("(() => { const b = document.getElementById('partial-banner'); "
                              "return b && b.querySelector('.banner-text').innerText; })()")
    if kind == "insecure":
        assert banner is None and "TLS certificates were not verified (--insecure)" in weakened
    else:
        assert banner == PARTIAL_BANNER
        # as prominent as the verdict: the same type size and weight, on the cover, seen without scrolling
        sizes = browser.evaluate("['.verdict', '#partial-banner .banner-text'].map(s => { "
                                 "const st = getComputedStyle(document.querySelector(s)); "
                                 "return [st.fontSize, st.fontWeight]; })")
        assert sizes[0] == sizes[1]
        top = browser.evaluate("document.getElementById('partial-banner').getBoundingClientRect().top")
        assert 0 < top < browser.evaluate("window.innerHeight")
        assert browser.evaluate("document.title").endswith(f"({PARTIAL_BANNER})")
    browser.screenshot(ARTIFACTS / f"report-{kind}.png")


def test_a_rule_table_link_opens_the_step_it_points_to(browser: Browser, failing_report) -> None:
    _, html = failing_report
    browser.load(html)
    anchor = browser.evaluate("document.querySelector('#rules tr.r-failed a').getAttribute('href')")
    browser.evaluate(f"location.hash = {json.dumps(anchor)}")
    browser.evaluate("new Promise(r => setTimeout(r, 50))")
    assert browser.evaluate(f"document.getElementById({json.dumps(anchor[1:])}).open") is True
