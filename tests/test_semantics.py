"""Deeper conformance semantics (issue 9) end to end: real servers on 127.0.0.1, the real pipeline.

One root cause is reported once: a refused media type or a refused attribute fails one rule and
the suite goes on with what the server accepts; every fault of the catalogue trips only its own
rules (or a documented set of consequences); the official profile keeps the official kit's
verdict; the independent server really exercises the freedoms the spec allows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tmf699ctk._exceptions import ScenarioError
from tmf699ctk._plan import build_plan
from tmf699ctk._results import Level, RunResult, Status, StepResult
from tmf699ctk._runner import execute
from tmf699ctk._scenarios import load_file
from tmf699ctk._settings import build_settings
from tmf699ctk.server import BY_NAME, ReferenceServer
from tmf699ctk.server.independent import IndependentServer

from .conftest import failed_rules, run_suite
from .test_faults import CONSEQUENCES

PATCHING = ["FULL-UPDATE", "FULL-UPDATE-NESTED", "FULL-UPDATE-REFUSED", "FULL-FILTERING", "FULL-NOTIFICATIONS"]
CREATING = ["FULL-CREATE", "FULL-FIELDS", "FULL-FILTERING", "FULL-UPDATE", "FULL-LIST"]


def steps(result: RunResult, scenario: str | None = None) -> list[StepResult]:
    return [s for sc in result.scenarios if scenario in (None, sc.id) for s in sc.steps]


def request_header(step: StepResult, name: str) -> str | None:
    assert step.exchange is not None
    return next((v for k, v in step.exchange.request.headers if k.lower() == name), None)


def failures(result: RunResult) -> list:
    return [c for c in result.checks() if c.status in (Status.FAILED, Status.ERROR)]


# -- item 3: PATCH media types, adaptively ----------------------------------------------------------------

def test_a_refused_merge_patch_fails_once_and_every_other_patch_check_runs_with_application_json(
        tmp_path: Path, schemas) -> None:
    with ReferenceServer(faults=frozenset({"patch-refuses-merge-patch"}), schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, only=PATCHING)
        left = dict(server.state.store.leads)
    assert failed_rules(result) == {"TMF630-PATCH-01"}
    [failure] = failures(result)
    assert "got 415" in failure.message and "the server accepts patch_type 'application/json'" in failure.message
    refused = [s for s in steps(result) if s.name.endswith("[patch_type application/merge-patch+json: refused]")]
    # one refused attempt per scenario that patches; only FULL-UPDATE judges it
    assert len(refused) == 5 and all(s.exchange.response.status == 415 for s in refused)
    assert sum(1 for s in refused for c in s.checks) == 1
    sent = [s for s in steps(result) if s.exchange and s.exchange.request.method == "PATCH" and s not in refused]
    assert sent and all(request_header(s, "content-type").startswith("application/json") for s in sent)
    passed = {c.rule_id for c in result.checks() if c.status == Status.PASSED}
    assert {f"TMF630-PATCH-{n:02d}" for n in (2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)} <= passed
    assert left == {} and result.leftovers == []


def test_a_null_patch_that_drops_the_object_it_is_in_is_found(tmp_path: Path, schemas, monkeypatch) -> None:
    """{validFor: {startDateTime: null}} must keep validFor's other members: a server dropping the
    whole object is neither a kept null (PATCH-13) nor an untouched attribute (PATCH-11); the null
    step also judges the object's merge (PATCH-12), or no rule would report it."""
    from tmf699ctk.server import _app

    merge = _app._merge

    def drops_the_object(lead, patch, **options):
        merged = merge(lead, patch, **options)
        if isinstance(patch, dict) and isinstance(patch.get("validFor"), dict) and None in patch["validFor"].values():
            merged.pop("validFor", None)
        return merged

    monkeypatch.setattr(_app, "_merge", drops_the_object)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-UPDATE-NESTED"], notifications="off")
    assert failed_rules(result) == {"TMF630-PATCH-12"}
    [failure] = failures(result)
    assert "validFor" in failure.message and failure.message.count("not merge(before, patch)") == 1


def test_the_defects_behind_a_refused_merge_patch_are_still_found(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, faults="patch-refuses-merge-patch,patch-null-ignored", only=PATCHING)
    assert failed_rules(result) == {"TMF630-PATCH-01", "TMF630-PATCH-13"}


NEGOTIATION = """\
id: T-NEGOTIATE
title: every value of a negotiated variable is refused
steps:
  - name: create
    request: {method: POST, path: /salesLead, json: {name: "negotiation {{ run_id }}"}}
    expect: [TMF699-CREATE-01]
    save: {lead: $}
  - name: patch
    negotiate: {variable: kind, values: [text/plain, application/xml], retry_on: [415], judged_by: TMF630-PATCH-01}
    request: {method: PATCH, path: "/salesLead/{{ lead.id }}", json: {rating: warm}, content_type: "{{ kind }}"}
    expect: [TMF630-PATCH-01, TMF630-PATCH-10]
  - name: later
    request: {method: GET, path: "/salesLead/{{ lead.id }}"}
    expect: [TMF699-RETRIEVE-01]
"""


def test_when_every_value_is_refused_the_cause_fails_once_and_what_depends_on_it_is_skipped(
        tmp_path: Path, reference_server: ReferenceServer) -> None:
    scenario = tmp_path / "negotiate.yaml"
    scenario.write_text(NEGOTIATION)
    result = run_suite(tmp_path, base_url=reference_server.url, scenario_paths=[scenario])
    [failure] = failures(result)
    assert failure.rule_id == "TMF630-PATCH-01"
    assert "every other value (application/xml) was refused too" in failure.message
    names = [s.name for s in steps(result)]
    assert names == ["create", "patch [kind text/plain: refused]", "patch", "later"]
    patch, later = steps(result)[2:]
    assert patch.exchange.response.status == 415
    assert [(c.rule_id, c.status) for c in patch.checks] == [("TMF630-PATCH-10", Status.SKIPPED)]
    assert "refused every kind (text/plain, application/xml) with 415" in later.skipped_reason


# -- item 11: one rejected attribute must not hide the suite ------------------------------------------------

def test_rejected_attributes_are_named_once_and_the_suite_goes_on_without_them(tmp_path: Path, schemas) -> None:
    with ReferenceServer(faults=frozenset({"create-rejects-unparsed"}), schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url)
        left = dict(server.state.store.leads)
    assert failed_rules(result) == {"TMF699-CREATE-05"}
    [failure] = failures(result)
    assert "it rejects prospectContact, @schemaLocation: without them the body is accepted (HTTP 201)" \
        in failure.message  # in the order of the body
    # the suite went on: every scenario that posts the full lead ran its checks
    assert result.summary["checks"]["passed"] > 400
    created = next(s for s in steps(result, "FULL-CREATE") if s.name == "POST /salesLead with every attribute "
                   "of SalesLead_Create")
    body = json.loads(created.exchange.request.body)
    assert "prospectContact" not in body and "@schemaLocation" not in body and "channel" in body
    assert {c.rule_id: c.status for c in created.checks}["TMF699-CREATE-04"] == Status.PASSED
    # the first scenario to meet the refusal searches; the others mostly reuse what it found
    refused = {sc.id for sc in result.scenarios for s in sc.steps if s.name.endswith("[the whole body: refused]")}
    probes = {sc.id: [s for s in sc.steps if "[probe " in s.name] for sc in result.scenarios}
    assert len(refused) >= 5 and 3 <= max(map(len, probes.values())) <= 20
    assert all(not s.checks for found in probes.values() for s in found)
    # probe leads were deleted at once: nothing is left behind, and no name filter sees twins
    assert left == {} and result.leftovers == []


def test_a_create_defect_is_still_found_behind_a_rejected_attribute(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, faults="create-rejects-unparsed,create-drops-refs", only=CREATING)
    assert failed_rules(result) == {"TMF699-CREATE-05", "TMF699-CREATE-04"}


REDUCTION = """\
id: T-REDUCE
title: the kept attributes themselves are refused
steps:
  - name: create
    reduce: {variable: body, retry_on: [400], keep: [name], judged_by: TMF699-CREATE-05}
    request: {method: POST, path: /salesLead, json: {name: 42, rating: hot}}
    expect: [TMF699-CREATE-01, TMF699-CREATE-05]
"""


def test_a_refusal_not_about_optional_attributes_leaves_the_judge_inconclusive(
        tmp_path: Path, reference_server: ReferenceServer) -> None:
    scenario = tmp_path / "reduce.yaml"
    scenario.write_text(REDUCTION)
    result = run_suite(tmp_path, base_url=reference_server.url, scenario_paths=[scenario])
    checks = {c.rule_id: c for c in result.checks()}
    assert checks["TMF699-CREATE-01"].status == Status.FAILED
    assert checks["TMF699-CREATE-05"].status == Status.SKIPPED
    assert "even the body with only name is refused" in checks["TMF699-CREATE-05"].message


@pytest.mark.parametrize(("text", "message"), [
    (NEGOTIATION.replace("judged_by: TMF630-PATCH-01", "judged_by: TMF630-PATCH-04"),
     "s.yaml:9: TMF630-PATCH-04 must also be listed in the step's expect"),
    (REDUCTION.replace("json: {name: 42, rating: hot}", "body: '{}'"),
     "s.yaml:5: reduce needs a request with a JSON object body"),
])
def test_adaptation_mistakes_are_scenario_errors_with_a_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_file(path)


# -- item 12: official-profile parity ------------------------------------------------------------------------

def test_the_official_profile_keeps_the_official_verdict_and_labels_stricter_findings(tmp_path: Path) -> None:
    official = run_suite(tmp_path / "o", embedded=True, faults="href-differs-on-post", profile="official")
    assert official.verdict == "PASS"
    warned = [c for c in official.checks() if c.status == Status.FAILED]
    assert warned and {c.rule_id for c in warned} == {"TMF699-CTK-04"}
    assert all(c.level == Level.RECOMMENDED and c.title.endswith("(beyond the official kit)") for c in warned)
    assert any("$.href" in c.message for c in warned)
    full = run_suite(tmp_path / "f", embedded=True, faults="href-differs-on-post", only=["FULL-CREATE", "OFFICIAL-N1"])
    assert full.verdict == "FAIL" and failed_rules(full) == {"TMF699-RETRIEVE-02", "TMF699-CTK-04"}
    assert all(c.level == Level.MANDATORY for c in full.checks() if c.rule_id == "TMF699-CTK-04")


# -- item 9: the clock-skew allowance reaches the checks ------------------------------------------------------

@pytest.mark.parametrize(("skew", "verdict"), [(300, "FAIL"), (7200, "PASS")])
def test_server_dates_in_the_future_are_judged_with_the_clock_skew_setting(skew: int, verdict: str, schemas) -> None:
    settings = build_settings({"run.only": ["FULL-CREATE"], "run.clock_skew": skew}, env={})
    with ReferenceServer(faults=frozenset({"creation-date-future"}), schemas=schemas) as server:
        result = execute(build_plan(settings), settings.with_base_url(server.url))
    dates = [c for c in result.checks() if c.rule_id == "TMF699-DATE-01"]
    assert dates and result.verdict == verdict
    assert all(c.status == (Status.FAILED if verdict == "FAIL" else Status.PASSED) for c in dates)


# -- the independent server exercises the spec's freedoms ----------------------------------------------------

def test_the_independent_server_uses_the_freedoms_the_spec_allows() -> None:
    from tmf699ctk._apis import V4
    from tmf699ctk._config import default_payloads, render_payloads

    lead = render_payloads(default_payloads(V4)["salesLead"], {"run_id": "free"})["full"]
    with IndependentServer() as server, httpx.Client(base_url=server.url) as client:
        created = client.post("/salesLead", json=lead)
        again = client.post("/salesLead", json=lead)
        patched = client.patch(f"/salesLead/{created.json()['id']}", json={"validFor": {"endDateTime": None}},
                               headers={"Content-Type": "application/merge-patch+json"})
    body = created.json()
    assert created.status_code == 201 and again.status_code == 409  # a repeat is refused, not overwritten
    assert [n["text"] for n in body["note"]] == [n["text"] for n in reversed(lead["note"])]  # another order
    assert body["referredDate"] == "2026-11-02T10:30:00+01:00"  # the same instant as 09:30Z, written otherwise
    assert {"salesChannelCode"} <= set(body) - set(lead)  # extra attributes
    assert patched.json()["validFor"] == {"startDateTime": "2026-11-01T09:30:00+01:00"}  # merged, null removed


def test_the_documented_consequences_name_real_faults() -> None:
    assert set(CONSEQUENCES) <= set(BY_NAME)
