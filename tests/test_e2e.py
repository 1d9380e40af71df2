"""The whole suite against real servers over loopback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tmf699ctk._outputs import OutputPaths, write_outputs
from tmf699ctk._resources import package_file
from tmf699ctk._results import RESULTS_SCHEMA_VERSION, RunResult, Status
from tmf699ctk._rules import RULES
from tmf699ctk._runner import GROUP_WORKERS
from tmf699ctk._scenarios import load_scenarios, select
from tmf699ctk._schemas import format_checker
from tmf699ctk.server import ReferenceServer

from .conftest import failed_rules, results_text, run_suite
from .servers import GarbageHandler, closed_port_url, hanging_server, http_server


@dataclass
class FullRun:
    result: RunResult
    folder: Path
    leads_left: dict[str, Any]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, schemas) -> FullRun:
    """One full run against a clean reference server, for the tests that only read what it left:
    its results, its results.json, the server's store once it ended."""
    folder = tmp_path_factory.mktemp("full")
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(folder, base_url=server.url)
        return FullRun(result, folder, dict(server.state.store.leads))


def test_the_full_suite_passes_against_the_reference_server(full_run: FullRun) -> None:
    result = full_run.result
    assert result.verdict == "PASS", failed_rules(result)
    assert result.summary["checks"]["failed"] == 0 and result.summary["checks"]["error"] == 0
    assert result.summary["checks"]["skipped"] == 0
    # every rule of the catalogue is exercised by the full profile (the generic ones are for users)
    v4_rules = {r.id for r in RULES if r.family != "custom" and r.applies_to("4.0.0")}
    assert {c.rule_id for c in result.checks()} == v4_rules


def test_every_created_resource_is_deleted_at_the_end(full_run: FullRun) -> None:
    assert full_run.result.summary["requests"]["total"] > 100  # the whole suite ran, and left nothing behind
    assert full_run.leads_left == {}


def test_resources_are_deleted_even_when_steps_fail(tmp_path: Path, schemas) -> None:
    with ReferenceServer(faults=frozenset({"patch-refuses-merge-patch", "create-200"}), schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url)
        assert result.verdict == "FAIL"
        assert server.state.store.leads == {}


def test_the_official_profile_runs_the_official_requests_and_passes(tmp_path: Path, reference_server) -> None:
    result = run_suite(tmp_path, base_url=reference_server.url, profile="official")
    assert result.verdict == "PASS"
    assert [s.id for s in result.scenarios] == ["OFFICIAL-E1", "OFFICIAL-N1", "OFFICIAL-N2"]
    # the official kit's 14 requests, plus N2's own POST: each scenario creates the lead it reads
    assert result.summary["requests"]["total"] == 15
    assert all(c.rule_id.startswith(("TMF699-CTK", "TMF699-CREATE", "TMF699-LIST", "TMF699-RETRIEVE"))
               for c in result.checks())


def test_the_embedded_server_run_passes(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True)
    assert result.verdict == "PASS" and result.target["embedded"] is True


@pytest.mark.parametrize("suffix", ["/", ""])
def test_base_url_with_or_without_trailing_slash(tmp_path: Path, reference_server, suffix: str) -> None:
    result = run_suite(tmp_path, base_url=reference_server.url + suffix, only=["FULL-CREATE"])
    assert result.verdict == "PASS"
    assert result.scenarios[0].steps[0].exchange.request.url == reference_server.url + "/salesLead"


def test_any_base_path_is_allowed(tmp_path: Path, schemas) -> None:
    with ReferenceServer(base_path="/vendor/x/sales-api/v4", schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url)
    assert result.verdict == "PASS"


def test_results_json_validates_against_its_published_schema(full_run: FullRun) -> None:
    schema = json.loads(package_file("results.schema.json").read_text())
    data = json.loads(results_text(full_run.folder))
    errors = list(Draft202012Validator(schema, format_checker=format_checker).iter_errors(data))
    assert errors == []
    assert data["schema_version"] == RESULTS_SCHEMA_VERSION and data["verdict"] == "PASS"


def test_secrets_never_reach_the_results(tmp_path: Path, reference_server, monkeypatch) -> None:
    monkeypatch.setenv("CTK_E2E_KEY", "env-secret-value-987")
    config = tmp_path / "c.yaml"
    config.write_text('target:\n  headers:\n    X-Vendor-Key: "${CTK_E2E_KEY}"\n')
    result = run_suite(tmp_path, base_url=reference_server.url, config_path=config, only=["FULL-CREATE"],
                       headers=["Authorization: Bearer header-secret-123"], user="ctk:basic-pass-456")
    results = tmp_path / "report" / "results.json"
    outputs = write_outputs(result, results, OutputPaths(results.parent, None, tmp_path / "j.xml",
                                                         tmp_path / "s.md")).paths
    for path in (results, *outputs):
        text = path.read_text()
        for secret in ("env-secret-value-987", "header-secret-123", "basic-pass-456", "Y3RrOmJhc2ljLXBhc3MtNDU2"):
            assert secret not in text, (path.name, secret)
    # the header is still shown, masked, so a reviewer sees that credentials were sent
    assert '<th scope="row">authorization</th><td><code>********</code>' in outputs[0].read_text()
    sent = dict(result.scenarios[0].steps[0].exchange.request.headers)
    assert sent["authorization"] == "********" and sent["x-vendor-key"] == "********"


def test_an_unreachable_server_yields_a_complete_report(tmp_path: Path) -> None:
    result = run_suite(tmp_path, base_url=closed_port_url())
    assert result.verdict == "FAIL" and result.unreachable
    assert "cannot connect to 127.0.0.1" in result.unreachable
    assert len(result.scenarios) == len(select(load_scenarios(), "full", api_version="4.0.0"))
    steps = [s for sc in result.scenarios for s in sc.steps]
    tried = [s for s in steps if s.exchange is not None]
    # only the requests already on their way when the first failed were sent (at most a block's
    # allowance per worker), each really tried; one that found the target marked unreachable is skipped
    assert 1 <= len(tried) <= 4 * GROUP_WORKERS and all("cannot connect" in (s.exchange.error or "") for s in tried)
    assert all({c.status for c in s.checks} <= {Status.ERROR} for s in tried)
    rest = [s for s in steps if s.exchange is None]
    assert rest and all(s.skipped_reason and "the target is unreachable" in s.skipped_reason for s in rest)
    assert result.summary["requests"]["sent"] == len(tried)


def test_a_hanging_server_times_out_per_request_with_a_clear_message(tmp_path: Path) -> None:
    with hanging_server() as url:
        result = run_suite(tmp_path, base_url=url, timeout=0.3, only=["FULL-CREATE", "OFFICIAL-E1"])
    assert result.verdict == "FAIL"
    errors = [c.message for c in result.checks() if c.status == Status.ERROR]
    assert errors and all("timed out after" in m for m in errors)


def test_a_server_answering_garbage_fails_with_messages_not_tracebacks(tmp_path: Path) -> None:
    with http_server(GarbageHandler) as url:
        result = run_suite(tmp_path, base_url=url)
    assert result.verdict == "FAIL"
    messages = [c.message for c in result.checks()]
    assert "expected HTTP 201, got 200 OK: '<html>" in messages[0]
    # later steps are skipped with the reason: the create answer was no JSON lead
    assert any("could not save 'lead': the 200 response is not JSON" in m for m in messages)
    assert any("Content-Type is 'text/html'" in m for m in messages)
    assert not any("internal error" in m or "Traceback" in m for m in messages)
    assert result.summary["checks"]["error"] == 0


def test_an_independent_conformant_server_passes_with_its_declined_features_reported(tmp_path: Path) -> None:
    from tmf699ctk.server.independent import IndependentServer

    with IndependentServer() as server:
        result = run_suite(tmp_path, base_url=server.url)
    assert result.verdict == "PASS", failed_rules(result)
    declined = {c.rule_id for c in result.checks() if c.not_supported}
    assert {"TMF630-FIELDS-04", "TMF630-FILTER-03", "TMF630-FILTER-04", "TMF630-PATCH-04"} <= declined
    assert all(c.status == Status.SKIPPED for c in result.checks() if c.not_supported)
    v4_suite = select(load_scenarios(), "full", api_version="4.0.0")
    assert len(result.scenarios) == len(v4_suite) and result.summary["blocking"] == 0
    hub = [c for c in result.checks() if c.rule_id == "TMF630-HUB-01"]
    assert hub and all(c.not_supported for c in hub)  # no hub: reported as not offered, verdict unaffected


def test_interrupting_a_run_keeps_partial_results_and_exits_3(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    with hanging_server() as url:
        proc = subprocess.Popen([sys.executable, "-m", "tmf699ctk", "run", "--base-url", url, "--timeout", "30",
                                 "-o", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "NO_COLOR": "1"})
        # interrupt only once the run is under way: its first request is waiting on the server
        assert url.connected.wait(timeout=60), "the run never sent its first request"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert "Run aborted: interrupted by the user" in out and "Traceback" not in out + err
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert data["aborted"] and data["verdict"] == "FAIL"


def test_user_scenarios_can_assert_status_headers_and_json_paths(tmp_path: Path, reference_server) -> None:
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("""\
id: VENDOR-1
title: A vendor's own checks
steps:
  - name: create
    request: {method: POST, path: /salesLead, json: {name: "mine {{ run_id }}", priority: low}}
    expect:
      - {rule: CTK-STATUS-01, expected: [201]}
      - {rule: CTK-HEADER-01, name: content-type, matches: "^application/json"}
      - {rule: CTK-JSON-01, path: "$.priority", equals: low}
      - {rule: CTK-JSON-01, path: "$.relatedParty", exists: false}
      - {rule: CTK-JSON-01, path: "$.status", one_of: [acknowledged, pending], type: string}
      - {rule: CTK-JSON-01, path: "$.name", matches: "^mine "}
      - {rule: CTK-JSON-01, path: "$.priority", equals: high, level: recommended}
    save: {lead: $}
""")
    result = run_suite(tmp_path, base_url=reference_server.url, scenario_paths=[scenario])
    statuses = [(c.rule_id, c.status.value) for c in result.checks() if c.family == "custom"]
    assert statuses == [("CTK-STATUS-01", "passed"), ("CTK-HEADER-01", "passed")] + [
        ("CTK-JSON-01", "passed")] * 4 + [("CTK-JSON-01", "failed")]
    assert result.checks()[6].message == "$.priority is 'low', expected 'high'"
    assert result.verdict == "PASS"  # the failing assertion was made recommended: a warning
    assert reference_server.state.store.leads == {}  # cleaned up


def test_a_server_closing_every_connection_unannounced_is_not_a_failure(tmp_path: Path, schemas,
                                                                         monkeypatch) -> None:
    """A server may close a connection after any answer (RFC 9112 9.3) without saying so: a request
    sent on it meanwhile gets no answer. Idempotent ones are sent again (RFC 9112 9.3.1.1), said in
    the evidence, and from then on every request asks for a connection of its own."""
    from tmf699ctk.server import _app

    send = _app.Handler._send

    def send_and_close(self, *args, **kwargs):
        send(self, *args, **kwargs)
        self.close_connection = True  # no `Connection: close` header said it

    monkeypatch.setattr(_app.Handler, "_send", send_and_close)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, notifications="off")
        assert server.state.store.leads == {}
    problems = [(c.rule_id, c.message) for c in result.checks() if c.status.value in ("failed", "error")]
    assert problems == [] and result.verdict == "PASS"
    for x in (x for x in result.exchanges() if x.retried):
        assert x.request.method in ("GET", "DELETE") or "the first was never applied" in x.retried
        assert "closed the connection without answering" in x.retried
        assert ("connection", "close") in [(k.lower(), v) for k, v in x.request.headers]


def _drop_the_first_post_on_a_reused_connection(monkeypatch, *, apply_it: bool) -> list[str]:
    """The reference server closes the connection, without answering, on the first POST /salesLead
    that arrives on a connection it has already answered on (after storing it when ``apply_it``)."""
    from tmf699ctk.server import _app

    dropped: list[str] = []
    handle_one, do_post = _app.Handler.handle_one_request, _app.Handler.do_POST

    def handle_one_request(self):
        self.ctk_requests = getattr(self, "ctk_requests", 0) + 1
        return handle_one(self)

    def do_POST(self):
        if dropped or self.ctk_requests < 2 or not self.path.endswith("/salesLead"):
            return do_post(self)
        dropped.append(self.path)
        if apply_it:
            self.wfile = open("/dev/null", "wb")  # noqa: SIM115  the answer goes nowhere
            do_post(self)
        self.close_connection = True
        return None

    monkeypatch.setattr(_app.Handler, "handle_one_request", handle_one_request)
    monkeypatch.setattr(_app.Handler, "do_POST", do_POST)
    return dropped


def test_a_post_dropped_unanswered_is_sent_again_once_its_name_is_not_found(tmp_path: Path, schemas,
                                                                             monkeypatch) -> None:
    """RFC 9110 9.2.2: a POST is sent again only with a means to know the first was never applied:
    no lead bears the unique name it sent. The evidence says so."""
    dropped = _drop_the_first_post_on_a_reused_connection(monkeypatch, apply_it=False)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, notifications="off")
        assert server.state.store.leads == {}
    assert dropped and result.verdict == "PASS"
    resent = [x for x in result.exchanges() if x.retried and x.request.method == "POST"]
    assert len(resent) == 1 and resent[0].response is not None and resent[0].response.status == 201
    assert "closed the connection without answering" in resent[0].retried
    assert "?name=" in resent[0].retried and "the first was never applied" in resent[0].retried


def test_a_post_dropped_after_it_was_applied_is_not_sent_again(tmp_path: Path, schemas, monkeypatch) -> None:
    """The lead the dropped POST created is found by its name: not sent again (that would create a
    second), the step is in error, and the cleanup deletes the lead."""
    dropped = _drop_the_first_post_on_a_reused_connection(monkeypatch, apply_it=True)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, notifications="off")
        assert server.state.store.leads == {}
    assert dropped and result.leftovers == []
    assert not [x for x in result.exchanges() if x.retried and x.request.method == "POST"]
    lost = [x for x in result.exchanges() if x.request.method == "POST" and x.response is None]
    assert len(lost) == 1 and "without sending a response" in (lost[0].error or "")


def test_a_dropped_post_is_not_sent_again_when_the_lookup_cannot_prove_it_was_never_applied(
        tmp_path: Path, schemas, monkeypatch) -> None:
    """A lookup answer that ignored the name filter and pages by default (other names, X-Total-Count
    above the items) may hide the lead the POST created: its absence proves nothing, so the POST
    is not sent again (it could create a second lead)."""
    from tmf699ctk.server import _app

    dropped = _drop_the_first_post_on_a_reused_connection(monkeypatch, apply_it=False)
    do_get, lookups = _app.Handler.do_GET, []

    def do_GET(self):
        if dropped and "name=" in self.path and not lookups:
            lookups.append(self.path)
            body = b'[{"id": "someone-else", "name": "another lead"}]'
            self.send_response(200)
            for key, value in (("Content-Type", "application/json"), ("X-Total-Count", "50"),
                               ("X-Result-Count", "1"), ("Content-Length", str(len(body)))):
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
            return None
        return do_get(self)

    monkeypatch.setattr(_app.Handler, "do_GET", do_GET)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, notifications="off")
        assert server.state.store.leads == {}
    assert dropped and lookups and result.leftovers == []
    assert not [x for x in result.exchanges() if x.retried and x.request.method == "POST"]
    lost = [x for x in result.exchanges() if x.request.method == "POST" and x.response is None]
    assert len(lost) == 1 and "without sending a response" in (lost[0].error or "")


def test_the_bundled_folder_named_with_scenarios_from_another_directory_runs(tmp_path: Path, schemas,
                                                                             monkeypatch) -> None:
    """Its files are read where they are, whatever the working directory (their display name is
    relative to the bundled folder); a selection of the bundled suite is marked partial, not broken."""
    from tmf699ctk._resources import data_dir

    monkeypatch.chdir(tmp_path)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, scenario_paths=[data_dir("scenarios") / "full"],
                           notifications="off")
    assert result.verdict == "PASS" and result.scope["complete"] is False and result.scope["custom_files"] == []
    assert any("differ from the bundled suite" in r for r in result.scope["partial_reasons"])


def test_results_written_but_not_readable_back_still_give_every_report_with_their_digest(
        tmp_path: Path, reference_server, monkeypatch) -> None:
    """A umask without the owner's read bit (0477) makes results.json write-only: reading it back for the
    report's digest was an internal error and no report. The digest is then that of the text written
    (the same bytes: the report verifies against the file)."""
    import tmf699ctk._outputs as outputs_module
    from tmf699ctk._outputs import verify_report
    from tmf699ctk._view import sha256_file

    def unreadable(path: Path) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(outputs_module, "sha256_file", unreadable)
    run_suite(tmp_path, base_url=reference_server.url, only=["FULL-CREATE"], **{"output.markdown": tmp_path / "s.md"})
    monkeypatch.undo()
    results = tmp_path / "report" / "results.json"
    [html] = (tmp_path / "report").glob("*-HTMLReport.html")
    digest = sha256_file(results)
    assert f'<meta name="results-sha256" content="{digest}"' in html.read_text()
    assert digest in (tmp_path / "s.md").read_text()
    assert verify_report(html, results) == []
