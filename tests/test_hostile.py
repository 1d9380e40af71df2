"""Every hostile mode, through the real command line: the kit never crashes, never leaks, never
loses its evidence and never leaves the API.

For each mode: the exit code, results.json valid against its published schema, the HTML report
(and JUnit, Markdown, $GITHUB_STEP_SUMMARY) written, no secret in any output or in stdout/stderr,
no request outside the base path, and what the results say about the mode. Memory and time are
measured by benchmarks/hostile.py, not asserted here.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tmf699ctk._resources import package_file
from tmf699ctk._results import RunResult, Status
from tmf699ctk._schemas import format_checker

from .cliproc import run_ctk
from .hostile import BY_NAME, MODES, HostileServer, Mode, certificate

USER, PASSWORD = "ctk-user", "hostile-pass-4711"
HEADER_SECRET = "header-secret-0815"
ENV_TOKEN = "env-token-2342"  # a header value from ${CTK_HOSTILE_TOKEN} in the config file
PATH_SECRET = "path-secret-1337"  # part of the base URL, from ${CTK_HOSTILE_PATH}
SECRETS = (PASSWORD, f"{USER}:{PASSWORD}", base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
           HEADER_SECRET, ENV_TOKEN, PATH_SECRET)
SCENARIOS = ("FULL-CREATE", "FULL-DELETE", "OFFICIAL-E1")
TIMEOUT = "2"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    folder: Path
    server: HostileServer

    @property
    def result(self) -> RunResult:
        return RunResult.read(self.folder / "results.json")

    def messages(self) -> list[str]:
        return [c.message for c in self.result.checks()]

    def exchanges(self) -> list:
        run = self.result
        return [e for s in run.scenarios for e in [*(st.exchange for st in s.steps if st.exchange), *s.cleanup]]


def hostile_base_path() -> str:
    return f"/tmf-api/{PATH_SECRET}/sales/v4"


def run_against(mode: Mode, tmp_path: Path, *extra: str, scenarios: tuple[str, ...] = SCENARIOS) -> Outcome:
    folder = tmp_path / "report"
    config = tmp_path / "ctk.yaml"
    with HostileServer(mode, base_path=hostile_base_path()) as server:
        port = server.origin.rsplit(":", 1)[1]
        config.write_text(
            "target:\n"
            f'  base_url: "http://127.0.0.1:{port}/tmf-api/${{CTK_HOSTILE_PATH}}/sales/v4"\n'
            '  headers:\n    X-Env-Token: "${CTK_HOSTILE_TOKEN}"\n'
            "report:\n  company: Hostile Test Inc\n")
        env = {**os.environ, "NO_COLOR": "1", "CTK_HOSTILE_TOKEN": ENV_TOKEN, "CTK_HOSTILE_PATH": PATH_SECRET,
               "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"), "COLUMNS": "200"}
        args = ["run", "--config", str(config), "--timeout", TIMEOUT, "--user", f"{USER}:{PASSWORD}",
                "-H", f"X-Api-Key: {HEADER_SECRET}", "--notifications", "off", "-o", str(folder),
                "--junit", str(tmp_path / "junit.xml"), "--markdown", str(tmp_path / "summary.md"),
                *(a for s in scenarios for a in ("--scenario", s)), *extra]
        proc = run_ctk(args, env=env, timeout=300)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, folder, server)


def assert_evidence_is_whole(out: Outcome, tmp_path: Path) -> None:
    """results.json valid against its schema, every report written, no secret anywhere."""
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    results = out.folder / "results.json"
    assert results.is_file(), out.stdout + out.stderr
    schema = json.loads(package_file("results.schema.json").read_text())
    data = json.loads(results.read_text(encoding="utf-8"))
    errors = [f"{e.json_path}: {e.message}"[:300] for e in
              Draft202012Validator(schema, format_checker=format_checker).iter_errors(data)]
    assert errors == []
    html = list(out.folder.glob("*-HTMLReport.html"))
    assert len(html) == 1, list(out.folder.iterdir())
    outputs = [results, html[0], tmp_path / "junit.xml", tmp_path / "summary.md", tmp_path / "step-summary.md"]
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        assert text, path
        for secret in SECRETS:
            assert secret not in text, (path.name, secret)
    for secret in SECRETS:
        assert secret not in out.stdout and secret not in out.stderr, secret
    assert out.server.outside() == [], "requests outside the base path"
    assert out.server.trap is not None and out.server.trap.lines == [], "requests to another origin"


# -- what each mode must leave in the results ------------------------------------------------------


def _errors(out: Outcome) -> list[str]:
    return [c.message for c in out.result.checks() if c.status in (Status.FAILED, Status.ERROR)]


def expect_control_chars(out: Outcome) -> None:
    lead = out.result.scenarios[0].steps[0].exchange.response.body
    assert "\\u0000\\u0007\\u001b[2J" in lead  # recorded as sent (JSON-escaped in the body text)


def expect_long_values(out: Outcome) -> None:
    headers = dict(out.result.scenarios[0].steps[0].exchange.response.headers)
    assert len(headers["x-long"]) == 70_000


def expect_deep_json(out: Outcome) -> None:
    assert any("nested more than 100 levels" in m for m in _errors(out))


def expect_deep_json_allowed(out: Outcome) -> None:
    assert not any("internal error" in m for m in out.messages())


def expect_invalid_utf8(out: Outcome) -> None:
    assert "\ufffd" in out.result.scenarios[0].steps[0].exchange.response.body


def expect_wrong_types(out: Outcome) -> None:
    assert any("must both be strings" in m or "is not of type" in m for m in _errors(out))


def expect_lone_surrogates(out: Outcome) -> None:
    assert not any("internal error" in m for m in out.messages())


def expect_status_599(out: Outcome) -> None:
    assert any("got 599" in m for m in _errors(out))


def expect_redirect_elsewhere(out: Outcome) -> None:
    assert any("got 307" in m for m in _errors(out))


def expect_many_headers(out: Outcome) -> None:
    assert len(out.result.scenarios[0].steps[0].exchange.response.headers) > 3000


def expect_transport_error(out: Outcome) -> None:
    first = out.result.scenarios[0].steps[0]
    assert first.exchange is not None and first.exchange.error
    assert {c.status for c in first.checks} == {Status.ERROR}


def expect_timed_out(out: Outcome) -> None:
    expect_transport_error(out)
    assert "timed out after" in out.result.scenarios[0].steps[0].exchange.error


def expect_slow_body(out: Outcome) -> None:
    expect_timed_out(out)
    response = out.result.scenarios[0].steps[0].exchange.response
    assert response is not None and response.status == 200 and response.truncated  # status and headers kept


def expect_reset_mid_body(out: Outcome) -> None:
    expect_transport_error(out)
    exchange = out.result.scenarios[0].steps[0].exchange
    assert exchange.response.status == 201 and exchange.response.truncated
    assert "cut short after" in exchange.error


def expect_not_http(out: Outcome) -> None:
    expect_transport_error(out)


def expect_truncated(out: Outcome) -> None:
    exchange = out.result.scenarios[0].steps[0].exchange
    assert exchange.response is not None and exchange.response.truncated
    assert len(exchange.response.body) <= 64 * 1024
    checks = out.result.scenarios[0].steps[0].checks
    assert checks and all(c.status == Status.FAILED and "larger than --max-body" in c.message for c in checks)


def expect_many_small_values(out: Outcome) -> None:
    assert any("too many" in m for m in _errors(out))


def expect_large_valid_leads(out: Outcome) -> None:
    sizes = [len(e.response.body) for e in out.exchanges() if e.response is not None]
    assert sum(sizes) <= 2 * 16 * (1 << 20) + 64 * 1024 * len(sizes)  # the run's evidence budget
    assert any(r.truncated and r.size > 15 * (1 << 20) for e in out.exchanges() if (r := e.response))


def expect_refused(value: str) -> object:
    def check(out: Outcome) -> None:
        refused = [m for m in _errors(out) if m.startswith("refused to send")]
        assert refused and all(value in m for m in refused), _errors(out)
        assert any(value in leftover.reason for leftover in out.result.leftovers)
        assert "delete this resource by hand" in out.stdout
    return check


def expect_no_write_to_the_collection(unset: str) -> object:
    """An id the server left empty or null is never put into a URL: /salesLead/ (or /salesLead/None)
    would address the collection, where a DELETE or PATCH may be a bulk operation."""
    def check(out: Outcome) -> None:
        writes = [line for line in out.server.requests if line.split(" ", 1)[0] in ("PATCH", "DELETE", "PUT")]
        assert writes == [], writes
        assert not [line for line in out.server.requests if "None" in line or line.endswith("/salesLead/")]
        assert any("the request would address the collection" in m for m in _errors(out)), _errors(out)
        create = [c for c in out.result.checks() if c.rule_id == "TMF699-CREATE-03"]
        assert create and create[0].status == Status.FAILED and f"id (it is {unset})" in create[0].message
    return check


def expect_href_refused(out: Outcome) -> None:
    refused = [m for m in _errors(out) if m.startswith("refused to send GET")]
    assert refused and "the URL is the value of '{{ lead.href }}'" in refused[0]


def expect_echo_secrets(out: Outcome) -> None:
    headers = dict(out.result.scenarios[0].steps[0].exchange.response.headers)
    assert headers["x-echo-authorization"] == headers["x-echo-x-api-key"] == "********"
    unknown = next(s for s in out.result.scenarios if s.id == "OFFICIAL-E1").steps[0].exchange.response.body
    assert "you sent:" in unknown and "Authorization=********" in unknown


def expect_tls_port(out: Outcome) -> None:
    assert "speaks TLS: use an https:// base URL" in (out.result.unreachable or "")


EXPECTED: dict[str, tuple[int, object]] = {  # mode: (exit code, what the results must show)
    "control-chars": (1, expect_control_chars),
    "long-values": (1, expect_long_values),
    "deep-json": (1, expect_deep_json),
    "deep-json-allowed": (0, expect_deep_json_allowed),
    "invalid-utf8": (1, expect_invalid_utf8),
    "odd-charset": (0, None),
    "wrong-types": (1, expect_wrong_types),
    "lone-surrogates": (1, expect_lone_surrogates),
    "informational": (0, None),
    "status-599": (1, expect_status_599),
    "redirect-elsewhere": (1, expect_redirect_elsewhere),
    "many-headers": (0, expect_many_headers),
    "header-flood": (1, expect_transport_error),
    "slow-headers": (1, expect_timed_out),
    "slow-body": (1, expect_slow_body),
    "reset-mid-body": (1, expect_reset_mid_body),
    "close-before-answer": (1, expect_transport_error),
    "not-http": (1, expect_not_http),
    "huge-body": (1, expect_truncated),
    "endless-chunked": (1, expect_truncated),
    "gzip-bomb": (1, expect_truncated),
    "many-small-values": (1, expect_many_small_values),
    "large-valid-leads": (0, expect_large_valid_leads),
    "id-traversal": (1, expect_refused("../../../admin/reset")),
    "id-dot-dot": (1, expect_refused("'..'")),
    "id-empty": (1, expect_no_write_to_the_collection("''")),
    "id-null": (1, expect_no_write_to_the_collection("None")),
    "href-elsewhere": (1, expect_href_refused),
    "href-outside-base": (1, expect_href_refused),
    "echo-secrets": (0, expect_echo_secrets),
    "tls-port": (3, expect_tls_port),
}


def test_every_mode_has_an_expectation_and_there_are_at_least_20() -> None:
    assert set(EXPECTED) == set(BY_NAME) and len(MODES) >= 20
    assert {m.kind for m in MODES} == {"data", "bounds", "api", "secrets", "transport"}


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_a_hostile_server_never_costs_the_evidence(mode: Mode, tmp_path: Path) -> None:
    if mode.tls and certificate() is None:
        pytest.skip("the openssl command is needed for a TLS port")
    out = run_against(mode, tmp_path)
    assert_evidence_is_whole(out, tmp_path)
    code, expectation = EXPECTED[mode.name]
    assert out.code == code, (out.code, out.stdout[-3000:], out.stderr[-2000:])
    if expectation is not None:
        expectation(out)  # type: ignore[operator]


# -- secrets: masked in every output, real for the checks --------------------------------------------


def test_checks_see_real_values_while_every_output_is_masked(tmp_path: Path) -> None:
    """Credentials in the base URL's userinfo, a ${ENV} secret in its path (so in every href the
    server returns), and a server echoing every request header: the run passes (TMF630-HREF-02
    compared the real hrefs), and no form of any secret reaches a file or the terminal."""
    url_password = "userinfo-pass-9001"
    folder = tmp_path / "report"
    config = tmp_path / "ctk.yaml"
    with HostileServer(BY_NAME["echo-secrets"], base_path=hostile_base_path()) as server:
        port = server.origin.rsplit(":", 1)[1]
        config.write_text(
            "target:\n"
            f'  base_url: "http://ctk-user:{url_password}@127.0.0.1:{port}/tmf-api/${{CTK_HOSTILE_PATH}}/sales/v4"\n'
            '  headers:\n    X-Env-Token: "${CTK_HOSTILE_TOKEN}"\n')
        env = {**os.environ, "NO_COLOR": "1", "CTK_HOSTILE_TOKEN": ENV_TOKEN, "CTK_HOSTILE_PATH": PATH_SECRET,
               "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
        proc = run_ctk(
            ["run", "--config", str(config), "-H", f"X-Api-Key: {HEADER_SECRET}",
             "--notifications", "off", "-o", str(folder), "--junit", str(tmp_path / "junit.xml"),
             "--markdown", str(tmp_path / "summary.md"), *(a for s in SCENARIOS for a in ("--scenario", s))],
            env=env, timeout=300)
        sent = list(server.requests)
    out = Outcome(proc.returncode, proc.stdout, proc.stderr, folder, server)
    pair = f"ctk-user:{url_password}"
    secrets = (url_password, pair, base64.b64encode(pair.encode()).decode(), HEADER_SECRET, ENV_TOKEN, PATH_SECRET)
    assert out.code == 0, (out.stdout[-2000:], out.stderr[-2000:])
    href = [c for c in out.result.checks() if c.rule_id == "TMF630-HREF-02"]
    assert href and all(c.status == Status.PASSED for c in href)
    assert sent and all(PATH_SECRET in line for line in sent)  # the real base path went over the wire
    outputs = [folder / "results.json", *folder.glob("*-HTMLReport.html"), tmp_path / "junit.xml",
               tmp_path / "summary.md", tmp_path / "step-summary.md"]
    assert len(outputs) == 5
    for path in outputs:
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, (path.name, secret)
    for secret in secrets:
        assert secret not in out.stdout + out.stderr, secret
    echoed = dict(out.result.scenarios[0].steps[0].exchange.response.headers)
    assert echoed["x-echo-authorization"] == "********"  # the echoed Basic header, masked by name and value
    assert "/tmf-api/********/sales/v4" in out.result.target["base_url"]


def test_a_redirect_to_another_origin_is_recorded_not_followed(tmp_path: Path) -> None:
    """Credentials go only to the base URL's origin: a 307 elsewhere is an answer to check."""
    out = run_against(BY_NAME["redirect-elsewhere"], tmp_path)
    assert out.server.trap is not None and out.server.trap.lines == []
    first = out.result.scenarios[0].steps[0].exchange
    assert first.response is not None and first.response.status == 307
    assert dict(first.response.headers)["location"].startswith(out.server.trap_url)


def test_values_saved_from_large_answers_are_bounded_and_the_scenario_says_why(tmp_path: Path) -> None:
    """Each saved 15 MiB lead stays in memory while its scenario runs: a third no longer fits."""
    scenario = tmp_path / "hoard.yaml"
    steps = "".join(
        f"  - name: GET the lead ({i})\n"
        "    request: {method: GET, path: \"/salesLead/{{ lead.id }}\"}\n"
        "    expect: [{rule: CTK-STATUS-01, expected: 200}]\n"
        f"    save: {{copy{i}: $}}\n" for i in range(6))
    scenario.write_text(
        "id: VENDOR-HOARD\ntitle: Save a large lead many times\nsteps:\n"
        "  - name: create\n"
        "    request: {method: POST, path: /salesLead, json: {name: \"hoard {{ run_id }}\"}}\n"
        "    expect: [{rule: CTK-STATUS-01, expected: 201}]\n"
        "    save: {lead: $}\n" + steps)
    out = run_against(BY_NAME["large-valid-leads"], tmp_path, "--scenarios", str(scenario), scenarios=())
    assert_evidence_is_whole(out, tmp_path)
    steps_run = out.result.scenarios[0].steps
    saved = [name for step in steps_run for name in step.saved]
    assert saved == ["lead", "copy0"]
    reasons = [s.skipped_reason or "" for s in steps_run]
    assert any("too large to keep for later steps" in r for r in reasons), reasons
    assert out.server.reference is not None and out.server.reference.state.store.leads == {}  # still cleaned up
