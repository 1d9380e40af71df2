"""Renderers read only the results model: HTML, JUnit XML and Markdown."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import xmlschema

from tmf699ctk._outputs import OutputPaths, write_outputs
from tmf699ctk._report_html import render_html
from tmf699ctk._report_junit import render_junit
from tmf699ctk._report_markdown import render_markdown
from tmf699ctk._results import RunResult
from tmf699ctk._view import BODY_LIMIT, curl, report_filename

from .reportdata import HOSTILE, sample_run

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
    assert "| 7 | 2 | 2 | 1 | 2 | 1 |" in md
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
    out = subprocess.run([sys.executable, "-m", "tmf699ctk", "report", str(results), "--html",
                          str(tmp_path / "again.html"), "--junit", str(tmp_path / "j.xml")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 1  # the verdict of the saved run
    assert (tmp_path / "again.html").read_text() == first
    XSD.validate(str(tmp_path / "j.xml"))


def test_report_command_rejects_a_file_that_is_not_results(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text(json.dumps({"schema_version": "9.0"}))
    out = subprocess.run([sys.executable, "-m", "tmf699ctk", "report", str(bogus)], capture_output=True, text=True)
    assert out.returncode == 2 and "not a tmf699ctk results file" in out.stderr


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    run = sample_run()
    again = RunResult.read(run.write(tmp_path / "r.json"))
    assert json.loads(json.dumps(again.to_dict())) == json.loads((tmp_path / "r.json").read_text())
    assert HOSTILE in again.scenarios[0].title


def test_a_version_1_0_results_file_still_renders(tmp_path: Path) -> None:
    data = sample_run().to_dict()
    data["schema_version"] = "1.0"
    del data["notifications"]  # added in 1.1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert "ACME Telco" in render_html(RunResult.read(path), "d" * 64)


def test_verify_accepts_an_untouched_report_and_names_any_tampering(tmp_path: Path) -> None:
    run = sample_run()
    results = run.write(tmp_path / "results.json")
    html = write_outputs(run, results).paths[0]

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tmf699ctk", "verify", str(html), str(results)],
                              capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})

    ok = verify()
    assert ok.returncode == 0 and "authentic" in ok.stdout
    original = html.read_text()
    tampered = original.replace('aria-label="verdict">FAIL', 'aria-label="verdict">PASS')
    assert tampered != original
    html.write_text(tampered)
    edited = verify()
    assert edited.returncode == 1 and "it was edited" in edited.stdout
    html.write_text(original)
    forged_results = results.read_text().replace('"verdict": "FAIL"', '"verdict": "PASS"')
    assert '"verdict": "PASS"' in forged_results
    results.write_text(forged_results)
    forged = verify()
    assert forged.returncode == 1 and "the report names results.json SHA-256" in forged.stdout
