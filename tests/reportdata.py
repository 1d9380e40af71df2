"""Results with every outcome, a huge body and hostile strings, for renderer tests."""

from __future__ import annotations

import json

from tmf699ctk._results import (
    CheckResult,
    Exchange,
    HttpRequest,
    HttpResponse,
    Level,
    RunResult,
    ScenarioResult,
    Status,
    StepResult,
)

HOSTILE = '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2">'
SECRET = "sup3r-s3cret-token"


def exchange(body: str, status: int = 200) -> Exchange:
    request = HttpRequest("POST", "http://127.0.0.1:1/api/salesLead?name=a%20b",
                          [("authorization", "********"), ("content-type", "application/json")], '{"name": "x"}')
    response = HttpResponse(status, "OK", "HTTP/1.1", [("content-type", "application/json")], body,
                            len(body.encode()), 12.5)
    return Exchange(request, response, None, "2026-11-26T10:00:00.000Z")


def check(rule: str, status: Status, level: Level = Level.MANDATORY, message: str = "",
          not_supported: bool = False) -> CheckResult:
    return CheckResult(rule, f"title of {rule}", level, "create", status, message, "a hint", not_supported)


def sample_run(items: int = 3) -> RunResult:
    huge = json.dumps([{"id": str(i), "name": f"lead {i}", "status": "acknowledged"} for i in range(items)])
    steps = [
        StepResult("passes", exchange=exchange(json.dumps({"id": "1", "name": HOSTILE})),
                   checks=[check("TMF699-CREATE-01", Status.PASSED, message="HTTP 201")]),
        StepResult(f"fails {HOSTILE}", exchange=exchange(json.dumps({"name": HOSTILE}), 500),
                   checks=[check("TMF699-CREATE-04", Status.FAILED, message=f"$.name: expected {HOSTILE}"),
                    check("TMF630-LOCATION-01", Status.FAILED, Level.RECOMMENDED, "201 without a Location")]),
        StepResult("errors", exchange=Exchange(HttpRequest("GET", "http://127.0.0.1:1/api/x", [], None), None,
                                               "timed out after 10.0s", ""),
                   checks=[check("TMF699-LIST-01", Status.ERROR, message="timed out after 10.0s")]),
        StepResult("skipped", checks=[check("TMF699-LIST-02", Status.SKIPPED, message="earlier step failed")],
                   skipped_reason="earlier step failed"),
        StepResult("declined", exchange=exchange('{"code": "501", "reason": "no"}', 501),
                   checks=[check("TMF630-FIELDS-04", Status.SKIPPED, Level.OPTIONAL, "not supported by the server",
                          not_supported=True)], skipped_reason="not supported by the server"),
        StepResult("huge list", exchange=exchange(huge), checks=[check("TMF699-SCHEMA-02", Status.PASSED)]),
    ]
    scenario = ScenarioResult("S-1", f"Scenario {HOSTILE}", "scenarios/s.yaml", ["t"], "desc", steps, [],
                              "2026-11-26T10:00:00.000Z", 55.0)
    run = RunResult(tool={"name": "tmf699ctk", "version": "0.1.0"},
                    spec={"name": "TMF699 Sales Management", "version": "4.0.0"},
                    target={"base_url": "http://127.0.0.1:1/api"}, profile="full",
                    started_at="2026-11-26T10:00:00.000Z", ended_at="2026-11-26T10:00:01.000Z",
                    metadata={"company": "ACME Telco", "product": HOSTILE, "release": "2.1", "contact": None},
                    scenarios=[scenario], duration_ms=1000.0)
    run.finish()
    return run
