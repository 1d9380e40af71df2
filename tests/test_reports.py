"""Renderers read only the results model: HTML, JUnit XML and Markdown."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import xmlschema
from rich.console import Console

from tmf699ctk._console import print_summary
from tmf699ctk._outputs import OutputPaths, write_outputs
from tmf699ctk._report_html import render_html
from tmf699ctk._report_junit import render_junit
from tmf699ctk._report_markdown import render_markdown
from tmf699ctk._results import SEAL, Leftover, RunResult, content_digest
from tmf699ctk._view import BODY_LIMIT, PARTIAL_BANNER, WEAKENED_TITLE, curl, report_filename

from .cliproc import run_ctk
from .reportdata import HOSTILE, sample_run
from .scoperuns import SCOPES, scope_run

XSD = xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit-jenkins.xsd"))


def test_sample_run_has_every_outcome() -> None:
    run = sample_run()
    assert run.verdict == "FAIL"
    assert run.summary["checks"] == {"total": 7, "passed": 2, "failed": 2, "skipped": 2, "error": 1}
    assert run.summary["warnings"] == 1 and run.summary["not_supported"] == 1


def test_html_escapes_every_hostile_string() -> None:
    html = render_html(sample_run(), "d" * 64)
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only our own, hash-pinned in the CSP


def test_html_is_self_contained_and_pins_its_script_in_the_csp() -> None:
    html = render_html(sample_run(), "d" * 64)
    assert "default-src 'none'" in html and "script-src 'sha256-" in html
    for external in ('src="http', "src='http", 'href="http', "@import", "url(http"):
        assert external not in html


def test_html_cover_carries_metadata_verdict_and_digest() -> None:
    html = render_html(sample_run(), "ab" * 32)
    assert "ACME Telco" in html and "release 2.1" in html and "ab" * 32 in html
    assert 'class="verdict FAIL"' in html


def test_huge_bodies_are_truncated_in_the_page_with_a_note() -> None:
    run = sample_run(items=10_000)
    body = run.scenarios[0].steps[-1].exchange.response.body
    assert len(body) > 500_000
    html = render_html(run, "d" * 64)
    assert len(html) < 200_000
    assert "more characters are in results.json" in html
    assert len(body) > BODY_LIMIT


def test_failed_checks_have_hint_and_curl_with_masked_secrets() -> None:
    run = sample_run()
    html = render_html(run, "d" * 64)
    assert "Remediation: a hint" in html and "curl -i -X POST" in html
    line = curl(run.scenarios[0].steps[1].exchange)
    assert line == ("curl -i -X POST 'http://127.0.0.1:1/api/salesLead?name=a%20b' -H 'authorization: ********' "
                    "-H 'content-type: application/json' --data-raw '{\"name\": \"x\"}'")


def test_report_is_named_after_the_company() -> None:
    assert report_filename(sample_run()) == "ACMETELCO-TMF699-v4.0.0-HTMLReport.html"
    run = sample_run()
    run.metadata["company"] = None
    assert report_filename(run) == "TMF699-v4.0.0-HTMLReport.html"


def test_junit_validates_against_the_jenkins_schema_with_real_skips_and_failures() -> None:
    xml = render_junit(sample_run())
    XSD.validate(xml)
    assert 'tests="7" failures="1" errors="1" skipped="2"' in xml  # the recommended failure only warns
    assert '<testcase classname="S-1" name="TMF699-CREATE-04 title of TMF699-CREATE-04' in xml
    assert "<skipped message=\"earlier step failed\"" in xml
    assert "WARNING (recommended)" in xml


def test_junit_survives_control_characters_from_a_hostile_server() -> None:
    run = sample_run()
    run.scenarios[0].steps[1].checks[0].message = "bad \x00\x1b byte"
    XSD.validate(render_junit(run))


def test_markdown_has_verdict_counts_and_escaped_failures() -> None:
    md = render_markdown(sample_run(), "d" * 64)
    assert md.startswith("## ❌ TMF699 v4.0.0 conformance: FAIL")
    assert "| checks | passed | failed | warnings | errors | skipped | not supported | requests sent |" in md
    assert "| 7 | 2 | 1 | 1 | 1 | 1 | 1 | 5 |" in md
    assert "`TMF699-CREATE-04` | mandatory | failed" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "- not supported by the server (1 checks)" in md


def test_outputs_use_the_digest_of_the_written_results(tmp_path: Path, monkeypatch) -> None:
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = sample_run()
    results = run.write(tmp_path / "results.json")
    written = write_outputs(run, results, OutputPaths(results.parent, None, tmp_path / "j.xml", tmp_path / "s.md",
                                                  summary)).paths
    digest = hashlib.sha256(results.read_bytes()).hexdigest()
    assert written[0].name == "ACMETELCO-TMF699-v4.0.0-HTMLReport.html"
    assert f'<meta name="results-sha256" content="{digest}">' in written[0].read_text()
    assert digest in (tmp_path / "s.md").read_text() and digest in summary.read_text()


def test_report_command_re_renders_identically_from_results_json(tmp_path: Path) -> None:
    run = sample_run()
    results = run.write(tmp_path / "results.json")
    first = write_outputs(run, results).paths[0].read_text()
    first_path = tmp_path / "first.html"
    first_path.write_text(first)
    env = {**os.environ, "NO_COLOR": "1"}
    out = run_ctk(["report", str(results), "--html", str(tmp_path / "again.html"), "--junit", str(tmp_path / "j.xml")],
                  env=env)
    assert out.returncode == 1  # the verdict of the saved run
    assert (tmp_path / "again.html").read_text() == first
    XSD.validate(str(tmp_path / "j.xml"))


def test_report_command_rejects_a_file_that_is_not_results(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text(json.dumps({"schema_version": "9.0"}))
    out = run_ctk(["report", str(bogus)])
    assert out.returncode == 2 and "not a tmf699ctk results file" in out.stderr


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    run = sample_run()
    again = RunResult.read(run.write(tmp_path / "r.json"))
    written = json.loads((tmp_path / "r.json").read_text())
    assert written.pop(SEAL) == content_digest(written)
    assert json.loads(json.dumps(again.to_dict())) == written
    assert HOSTILE in again.scenarios[0].title


def test_a_version_1_0_results_file_still_renders(tmp_path: Path) -> None:
    data = sample_run().to_dict()
    data["schema_version"] = "1.0"
    del data["notifications"]  # added in 1.1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert "ACME Telco" in render_html(RunResult.read(path), "d" * 64)


# -- the run's scope, counts and content a reviewer expects -----------------------------------------


@pytest.fixture(scope="module", params=SCOPES)
def scoped(request, tmp_path_factory) -> tuple[str, RunResult, Path]:
    result, folder = scope_run(request.param, tmp_path_factory.mktemp(request.param))
    write_outputs(result, folder / "results.json", OutputPaths(folder, None, folder / "j.xml", folder / "s.md"))
    return request.param, result, folder


def test_a_partial_custom_or_insecure_run_says_so_in_html_markdown_and_junit(scoped) -> None:
    kind, result, folder = scoped
    [html] = folder.glob("*.html")
    page, md, junit = html.read_text(), (folder / "s.md").read_text(), (folder / "j.xml").read_text()
    XSD.validate(junit)
    if kind == "insecure":  # complete, but weakened
        assert result.scope["complete"] is True and PARTIAL_BANNER not in page + md + junit
        for text in (page, md, junit):
            assert "TLS certificates were not verified (--insecure)" in text
        assert 'id="weakened"' in page and f"**{WEAKENED_TITLE}:** TLS certificates" in md
        assert '<property name="weakened" value="TLS certificates were not verified (--insecure)' in junit
        return
    assert result.scope["complete"] is False
    reason = {"partial": "only part of the suite was selected (OFFICIAL-N1)",
              "custom": "1 scenario file(s) are not the bundled suite's: "}[kind]
    assert f'<span class="banner-text">{PARTIAL_BANNER}</span>' in page and reason.replace("'", "&#39;") in page
    assert md.split("\n")[2] == f"> ⚠️ **{PARTIAL_BANNER}**" and reason in md  # right under the verdict
    assert '<testsuites name="tmf699ctk official ' in junit and f"— {PARTIAL_BANNER}\"" in junit
    assert f'<property name="scope" value="{PARTIAL_BANNER}: {reason}' in junit
    if kind == "custom":  # the custom file is named with its digest, and that it reuses a bundled ID
        [custom] = result.scope["custom_files"]
        assert custom["file"].endswith("N1.yaml") and custom["sha256"] in page
        assert f"{custom['file']} (reuses the bundled ID OFFICIAL-N1)" in md
        assert result.scenarios[0].id == "OFFICIAL-N1"


def test_the_same_counts_in_the_terminal_html_markdown_and_junit(tmp_path: Path) -> None:
    run = sample_run()  # every outcome once or more
    counts = run.summary["outcomes"]
    assert counts == {"passed": 2, "failed": 1, "warning": 1, "error": 1, "skipped": 1, "not supported": 1}
    console = Console(record=True, width=200, no_color=True)
    print_summary(console, run, [])
    terminal = console.export_text()
    assert "7 checks: 2 passed, 1 failed, 1 warning, 1 error, 1 skipped, 1 not supported" in terminal
    html = render_html(run, "d" * 64)
    for word, n in counts.items():
        assert f'id="count-{word.replace(" ", "-")}">{n}</td>' in html
    assert "| 7 | 2 | 1 | 1 | 1 | 1 | 1 | 5 |" in render_markdown(run)
    junit = render_junit(run)
    # JUnit knows failures, errors and skips: a warning passes, not supported is skipped
    assert 'tests="7" failures="1" errors="1" skipped="2"' in junit


def test_errors_are_never_called_failures(tmp_path: Path) -> None:
    run = sample_run()
    console = Console(record=True, width=200, no_color=True)
    print_summary(console, run, [])
    lines = console.export_text().splitlines()
    error_line = next(line for line in lines if "TMF699-LIST-01" in line)
    assert error_line.startswith("ERROR ") and not any(line.startswith("FAIL ") and "LIST-01" in line for line in lines)
    assert next(line for line in lines if "TMF699-CREATE-04" in line).startswith("FAIL ")
    assert next(line for line in lines if "TMF630-LOCATION-01" in line).startswith("WARN ")
    junit = render_junit(run)
    assert '<error message="timed out after 10.0s"' in junit
    assert "badge b-error\">error</span> <span class=\"lvl\">mandatory" in render_html(run, "d" * 64)


def test_the_cover_shows_end_time_duration_environment_and_the_scope_block(tmp_path: Path) -> None:
    result, folder = scope_run("partial", tmp_path)
    [html] = folder.glob("*.html")
    page = html.read_text()
    assert f'<dd id="ended">{result.ended_at} (UTC) · ' in page
    assert f"Python {result.scope['python']}" in page and result.scope["platform"] in page
    for label in ("Suite SHA-256", "Bundled suite SHA-256", "Selection", "Custom scenario files", "Ended"):
        assert f"<dt>{label}</dt>" in page
    assert result.scope["suite_sha256"] in page and result.scope["bundled_suite_sha256"] in page


def test_the_rule_table_links_every_rule_to_evidence_in_the_page() -> None:
    run = sample_run()
    html = render_html(run, "d" * 64)
    table = html.split('<section aria-labelledby="rules-heading" id="rules">', 1)[1].split("</section>", 1)[0]
    rules = {c.rule_id for c in run.checks()}
    for rule in rules:
        assert f"<td><code>{rule}</code></td>" in table
    links = [part.split('"', 1)[0] for part in table.split('<a href="#')[1:]]
    assert len(links) == len(rules) and all(f'id="{anchor}"' in html for anchor in links)
    assert '<tr class="rule r-error"><td><code>TMF699-LIST-01</code></td><td>mandatory</td>' in table


def test_unclaimed_events_leftovers_and_scenario_errors_are_shown() -> None:
    run = sample_run()
    stray = {"path": "/cb/t/s0/listener/x", "eventType": "SalesLeadDeleteEvent", "lead": "7",
             "received_at": "2026-11-26T10:00:00.5Z", "reason": f"no step waited for it {HOSTILE}"}
    run.notifications = {"mode": "optional", "callback_url": "http://127.0.0.1:1/cb", "listen": "127.0.0.1:1",
                         "received": 2, "unclaimed": [stray]}
    run.leftovers = [Leftover("http://127.0.0.1:1/api/salesLead/7", "7", "CTK lead", "DELETE answered 500")]
    run.scenarios[0].steps[2].scenario_error = "save lead: JSON path '$.a[': unexpected end of query"
    again = RunResult.from_dict(json.loads(run.to_json()))
    html, md, junit = render_html(again, "d" * 64), render_markdown(again), render_junit(again)
    assert 'type="scenario error"' in junit
    assert "Notifications no step waited for (1)" in html and "SalesLeadDeleteEvent" in html
    assert "Notifications no step waited for (1)" in md and "<script>" not in md
    assert "curl -X DELETE http://127.0.0.1:1/api/salesLead/7" in html + md and "DELETE answered 500" in md
    assert "Scenario errors (1)" in html and "Scenario errors (1)" in md and "JSON path" in html
    assert PARTIAL_BANNER in html and "could not run as written (scenario errors)" in md


def test_the_html_report_is_a_pure_rendering_of_the_results(tmp_path: Path) -> None:
    run = sample_run()
    results = run.write(tmp_path / "results.json")
    first = render_html(RunResult.read(results), "d" * 64)
    assert render_html(RunResult.read(results), "d" * 64) == first


def test_an_answer_cut_short_shows_what_arrived_and_why_and_a_lost_one_says_no_response() -> None:
    run = sample_run()
    exchange = next(st.exchange for sc in run.scenarios for st in sc.steps
                    if st.exchange is not None and st.exchange.response is not None)
    exchange.error = "the body was cut short after 100 bytes: the connection was reset"
    exchange.response.body = '{"id": "partial-body-marker'
    html = render_html(run, "d" * 64)
    assert "Answer cut short:</strong> the body was cut short after 100 bytes" in html
    assert "partial-body-marker" in html and f"{exchange.response.status} {exchange.response.reason}" in html
    exchange.response = None
    html = render_html(run, "d" * 64)
    assert "No response:</strong> the body was cut short" in html and "partial-body-marker" not in html
