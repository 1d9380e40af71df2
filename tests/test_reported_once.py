"""One root cause is reported once: each gate leaves a check whose precondition failed (or whose
finding another rule owns) inconclusive, and the dependent defect alone still fails that check.

The v5 fault matrix (test_v5_faults.py) holds the end-to-end side: the faults behind these gates trip
only their own rules, and the faults of the dependent defects alone (fields-drops-id,
event-time-future, delete-event-not-sent, patch-refused-but-applied) are caught.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tmf699ctk import _checks as c
from tmf699ctk._results import HttpRequest, HttpResponse, Status
from tmf699ctk._runner import _expected_change
from tmf699ctk._schemas import SchemaStore
from tmf699ctk.server import ReferenceServer

from .conftest import failed_rules, run_suite

V5 = "5.0.0"
BASE = "http://127.0.0.1:9/tmf-api/salesManagement/v5"
LEAD = {"@type": "SalesLead", "id": "L1", "href": f"{BASE}/salesLead/L1", "name": "n", "status": "acknowledged",
        "priority": "high", "description": "d", "lastUpdate": "2026-11-26T10:00:00.000Z"}


@pytest.fixture(scope="module")
def v5_schemas() -> SchemaStore:
    return SchemaStore.load("tmf699-v5.0.0")


def ctx(body: Any, schemas: SchemaStore | None = None, status: int = 200, headers: dict[str, str] | None = None,
        url: str = f"{BASE}/salesLead") -> c.CheckContext:
    text = json.dumps(body)
    response = HttpResponse(status, "OK", "HTTP/1.1", list({"Content-Type": "application/json", **(headers or {})}
                                                           .items()), text, len(text), 1.0)
    return c.CheckContext(HttpRequest("GET", url, [], None), response, schemas, BASE)  # type: ignore[arg-type]


def inconclusive(call: Any, match: str) -> None:
    with pytest.raises(c.CheckInconclusive, match=match):
        call()


def failed(call: Any, match: str) -> None:
    with pytest.raises(c.CheckFailed, match=match):
        call()


# -- a v5 merge patch's @type is the resource's class, not a change ---------------------------------

def test_a_v5_patch_expects_the_class_the_resource_had(v5_schemas: SchemaStore, schemas: SchemaStore) -> None:
    patch = {"@type": "SalesLead", "description": "new"}
    served = {**LEAD, "description": "new"}
    untyped = {k: v for k, v in served.items() if k != "@type"}
    # served without its class before and after: the schema rules' finding, not the patch's
    before = {k: v for k, v in LEAD.items() if k != "@type"}
    assert c.merge_applied(ctx(untyped, v5_schemas), before, patch)
    # served under another class before and after: the patch did not change it
    assert c.merge_applied(ctx({**served, "@type": "Lead"}, v5_schemas), {**LEAD, "@type": "Lead"}, patch)
    # the patch itself loses the class the resource had: still the patch's defect
    failed(lambda: c.merge_applied(ctx(untyped, v5_schemas), LEAD, patch), r"\$\['@type'\]: missing")
    inconclusive(lambda: c.merge_applied(ctx(LEAD, v5_schemas), LEAD, {"@type": "SalesLead"}), "nothing but")
    # v4: @type is an attribute like any other, and a patch of it is a change
    failed(lambda: c.merge_applied(ctx({"id": "L1", "@type": "A"}, schemas), {"id": "L1", "@type": "A"},
                                   {"@type": "B"}), "expected 'B', got 'A'")


# -- a reference is judged against the lead as served ------------------------------------------------

def test_a_reference_is_compared_with_the_lead_as_the_api_served_it() -> None:
    untyped = {k: v for k, v in LEAD.items() if k != "@type"}
    assert c.reference_resolves(ctx(untyped), untyped, ["id", "name", "@type"]) == "resolves to 'L1'"
    other = {**LEAD, "@type": "SalesOpportunity", "id": "L1"}
    failed(lambda: c.reference_resolves(ctx(other), LEAD, ["id", "name", "@type"]), "serves another resource")
    failed(lambda: c.reference_resolves(ctx({}, status=404), LEAD, ["id", "name"]), "resolves to nothing")


# -- a Location that is the href, outside the base because the href is ------------------------------

def test_a_location_outside_the_base_is_the_hrefs_finding_when_it_is_the_href() -> None:
    elsewhere = "http://127.0.0.1:9/tmf-api/sales/v4/salesLead/L1"
    on_v4 = {**LEAD, "href": elsewhere}
    inconclusive(lambda: c.location_in_base(ctx(on_v4, status=201, headers={"Location": elsewhere})),
                 "TMF630-HREF-02 reports that href")
    internal = "http://backend.internal:8080/tmf-api/salesManagement/v5/salesLead/L1"
    failed(lambda: c.location_in_base(ctx(LEAD, status=201, headers={"Location": internal})),
           "outside the API's base URL")


# -- list items without id ---------------------------------------------------------------------------

ANONYMOUS = [{"name": "n", "status": "acknowledged"}, {"name": "m", "status": "acknowledged"}]


def test_a_list_without_ids_leaves_what_needs_ids_inconclusive_and_still_judges_values() -> None:
    inconclusive(lambda: c.filtered(ctx(ANONYMOUS), {"id": "L1"}, include=["L1"]), "no item carries an id")
    inconclusive(lambda: c.filtered(ctx(ANONYMOUS), {"status": "acknowledged"}, include=["L1"]), "cannot be found")
    assert c.filtered(ctx(ANONYMOUS), {"status": "acknowledged"}) == "2 matching item(s)"
    failed(lambda: c.filtered(ctx(ANONYMOUS), {"status": "pending"}, include=["L1"]), "whose status is")
    inconclusive(lambda: c.filtered_exact(ctx(ANONYMOUS), "name", "n", ["L1"], ["D1"]), "look-alikes")
    inconclusive(lambda: c.sorted_by(ctx(ANONYMOUS), "name", ["L1", "L2"]), "no item carries an id")
    failed(lambda: c.list_contains(ctx(ANONYMOUS), "L1"), "none of which carries an id")


def test_fields_dropping_id_is_the_selections_defect_only_when_the_plain_list_has_ids() -> None:
    selected = [{"name": "n"}]
    inconclusive(lambda: c.fields_only(ctx(selected), ["name"], items=True, unselected=ANONYMOUS),
                 "so does the list without fields")
    failed(lambda: c.fields_only(ctx(selected), ["name"], items=True, unselected=[LEAD]), "dropped id")
    failed(lambda: c.fields_only(ctx(selected), ["name"], items=True), "dropped id")  # v4: no baseline given


# -- an eventId or eventTime the event schema requires -----------------------------------------------

def event(body: dict[str, Any], schemas: SchemaStore) -> c.EventContext:
    return c.EventContext("/callback/listener/x", [], json.dumps(body), 5.0, schemas, BASE)


def test_the_envelope_rule_leaves_what_the_schema_requires_to_the_schema(v5_schemas: SchemaStore,
                                                                        schemas: SchemaStore) -> None:
    now = datetime.now(UTC).isoformat()
    schema = "SalesLeadCreateEvent"
    inconclusive(lambda: c.event_envelope(event({"eventTime": now}, v5_schemas), schema), "TMF699-EVENT-02")
    inconclusive(lambda: c.event_envelope(event({"eventId": "e", "timeOcurred": now}, v5_schemas), schema),
                 "no eventTime, which its schema")
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    failed(lambda: c.event_envelope(event({"eventTime": ahead}, v5_schemas), schema), "in the future")
    failed(lambda: c.event_envelope(event({"eventId": " ", "eventTime": now}, v5_schemas), schema), "no eventId")
    # v4's event schema requires neither: their absence is this rule's own finding there
    failed(lambda: c.event_envelope(event({"eventTime": now}, schemas), schema), "no eventId")
    assert c.event_envelope(event({"eventId": "e", "eventTime": now}, v5_schemas), schema).startswith("eventId")


# -- a patch accepted instead of refused -------------------------------------------------------------

REFUSED = [{"@type": "SalesLead", "priority": "urgent"}, {"description": "no @type"}]


def test_a_refused_patch_check_sets_aside_what_an_accepted_patch_changed() -> None:
    moved = {**LEAD, "description": "no @type", "lastUpdate": "2026-11-26T10:00:01.000Z"}
    assert "description left to the 1 accepted" in c.unchanged_by_refused(ctx(moved), LEAD, REFUSED, [400, 200])
    also = {**moved, "priority": "urgent"}  # the refused one was applied too
    failed(lambda: c.unchanged_by_refused(ctx(also), LEAD, REFUSED, [400, 200]), "a refused patch changed the lead")
    failed(lambda: c.unchanged_by_refused(ctx(moved), LEAD, REFUSED, [400, 400]), r"\$\.description")
    inconclusive(lambda: c.unchanged_by_refused(ctx(moved), LEAD, REFUSED, [200, 200]), "none of the 2")
    failed(lambda: c.unchanged_by_refused(ctx(moved), LEAD), "differs from the lead as created")  # v4: as before


# -- a list answer short of a match ------------------------------------------------------------------

def test_counts_and_order_leave_a_short_answer_to_the_rules_that_judge_what_a_list_returns() -> None:
    inconclusive(lambda: c.count_headers_consistent(ctx([], headers={"X-Total-Count": "0"}), total=1),
                 "the answer omits a match")
    failed(lambda: c.count_headers_consistent(ctx([LEAD], headers={"X-Total-Count": "0"}), total=1), "fewer than")
    failed(lambda: c.count_headers_consistent(ctx([LEAD], headers={"X-Total-Count": "5"}), total=1),
           "exactly 1 leads match")
    ours = [{"id": "A", "name": "s A"}, {"id": "B", "name": "s B"}]
    inconclusive(lambda: c.sorted_by(ctx(ours[:1]), "name", ["A", "B"], unsorted=ours[:1]),
                 "missing from the sorted list and from the list without sort")
    # a lead missing from the sorted answer is what TMF699-LIST-03 judges, never an order failure: which
    # lead a server losing its last (or first) match loses depends on the other scenarios' leads
    inconclusive(lambda: c.sorted_by(ctx(ours[:1]), "name", ["A", "B"], unsorted=ours), "TMF699-LIST-03 judges")
    inconclusive(lambda: c.sorted_by(ctx(ours[:1]), "name", ["A", "B"]), "fewer than two leads")


# -- 202 polling of a JSON Patch: what a later operation changes again is not predicted ----------------

def test_a_member_a_later_operation_changes_again_is_not_predicted() -> None:
    def ops(*items: dict[str, Any]) -> str:
        return json.dumps(list(items))

    assert _expected_change(ops({"op": "add", "path": "/note", "value": [{"text": "a"}]},
                                {"op": "replace", "path": "$.note[?@.author=='CTK'].text", "value": "b"},
                                {"op": "add", "path": "/description", "value": "d"})) == {"description": "d"}
    assert _expected_change(ops({"op": "add", "path": "/rating", "value": "cold"},
                                {"op": "replace", "path": "/rating/x", "value": 1})) is None
    assert _expected_change(ops({"op": "add", "path": "/a", "value": 1},
                                {"op": "move", "from": "/a", "path": "/b"})) is None
    assert _expected_change(ops({"op": "add", "path": "/a", "value": 1},
                                {"op": "replace", "path": "$..x", "value": 1})) is None  # a target not understood


# -- an event owed only for a write that took effect ---------------------------------------------------

def test_a_missing_event_after_a_write_without_effect_is_inconclusive_and_says_why(
        tmp_path: Path, v5_schemas: SchemaStore) -> None:
    with ReferenceServer(api_version=V5, schemas=v5_schemas, faults=frozenset({"opportunity-delete-noop"})) as server:
        result = run_suite(tmp_path, base_url=server.url, api_version=V5, only=["V5-NOTIFICATIONS-OPPORTUNITY"])
    assert failed_rules(result) == set()
    step = next(s for sc in result.scenarios for s in sc.steps if s.name == "Receive SalesOpportunityDeleteEvent")
    assert all(check.status == Status.SKIPPED for check in step.checks)
    (arrival,) = [check for check in step.checks if check.rule_id == "TMF699-EVENT-01"]
    assert "the DELETE it follows did not take effect" in arrival.message and "TMF699-DELETE-03" in arrival.message
    assert step.exchange is not None and step.exchange.request.method == "GET"  # the evidence: what GET found
    assert step.exchange.response is not None and step.exchange.response.status == 200


STATUS_SAVED = """\
id: CUSTOM-STATUS
title: An answer's status is saved whatever it is
steps:
  - name: GET an unknown lead, expecting 200 (the status rule fails with 404)
    request: {method: GET, path: "/salesLead/ctk-unknown-{{ run_id }}"}
    expect: [{rule: CTK-STATUS-01, expected: 200}]
    save: {answered: {status: true}}
  - name: GET the list, with the status saved
    request: {method: GET, path: /salesLead, query: {limit: "{{ 1 if answered == 404 else 2 }}"}}
    expect: [TMF699-LIST-01]
"""


def test_a_status_is_saved_and_the_scenario_goes_on_when_the_steps_status_rule_fails(tmp_path: Path,
                                                                                   schemas: SchemaStore) -> None:
    (tmp_path / "status.yaml").write_text(STATUS_SAVED)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path / "out", base_url=server.url, scenario_paths=[tmp_path / "status.yaml"],
                           notifications="off")
    first, second = result.scenarios[0].steps
    assert {(check.rule_id, check.status) for check in first.checks} >= {("CTK-STATUS-01", Status.FAILED)}
    assert first.saved == ["answered"]
    assert second.exchange is not None and second.exchange.request.url.endswith("limit=1")
    assert {(check.rule_id, check.status) for check in second.checks} >= {("TMF699-LIST-01", Status.PASSED)}


def test_an_accepted_patch_is_set_aside_by_the_refused_patch_check_end_to_end(tmp_path: Path,
                                                                             v5_schemas: SchemaStore) -> None:
    with ReferenceServer(api_version=V5, schemas=v5_schemas, faults=frozenset({"patch-accepts-no-type"})) as server:
        result = run_suite(tmp_path, base_url=server.url, api_version=V5, only=["V5-UPDATE-LEAD"],
                           notifications="off")
    assert failed_rules(result) == {"TMF630-PATCH-17"}
    (patch_09,) = [check for check in result.checks() if check.rule_id == "TMF630-PATCH-09"]
    assert patch_09.status == Status.PASSED and "left to the 1 accepted" in patch_09.message


# -- a resource a PATCH moved to a new id ----------------------------------------------------------------

def test_a_lead_moved_by_an_accepted_read_only_id_is_one_finding_and_is_still_cleaned_up(
        tmp_path: Path, schemas: SchemaStore) -> None:
    """A server taking a PATCH of the read-only id serves the lead at a new URL: the later patches
    and reads of the old URL answer 404, which is that one cause (TMF630-PATCH-06), not five findings
    of their own; and the lead is deleted where it now is."""
    with ReferenceServer(schemas=schemas, faults=frozenset({"patch-accepts-readonly"})) as server:
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-UPDATE-REFUSED"], notifications="off")
        left = dict(server.state.store.leads)
    assert failed_rules(result) == {"TMF630-PATCH-06"}
    (scenario,) = result.scenarios
    moved = [s for s in scenario.steps if s.exchange and s.exchange.response and s.exchange.response.status == 404
             and "ctk-unknown-" not in s.exchange.request.url]
    # the href and creationDate patches, the two enum patches, the typed and the malformed ones, the read after them
    assert len(moved) == 7
    for step in moved:
        assert step.checks and all(check.status == Status.SKIPPED for check in step.checks), step.name
        assert "no longer at this URL" in (step.skipped_reason or "") and "'ctk-changed-id'" in step.skipped_reason
    (cleanup,) = scenario.cleanup
    assert cleanup.request.method == "DELETE" and cleanup.request.url.endswith("/salesLead/ctk-changed-id")
    assert cleanup.response is not None and cleanup.response.status == 204
    assert left == {} and result.leftovers == []



# -- a filter the server refuses, whose answer a later step reads ------------------------------------------------

def test_a_refused_id_filter_fails_its_own_checks_and_the_filtering_scenario_goes_on(
        tmp_path: Path, schemas: SchemaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer to ?id= is kept for the paging check (TMF630-PAGE-08) with a default: a server that
    answers 400 to an id filter fails the id filter's checks, the paging check has nothing to compare
    (inconclusive), and every other filter of the scenario is still judged (before the default, the
    refused answer stopped the scenario: 36 checks skipped)."""
    from tmf699ctk.server import _app

    listing = _app.Handler.list_leads

    def no_id_filter(self: Any) -> None:
        if any(key == "id" for key, _ in self.query) and not any(key == "status" for key, _ in self.query):
            raise _app.HttpError(400, "cannot filter on id")
        listing(self)

    monkeypatch.setattr(_app.Handler, "list_leads", no_id_filter)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-FILTERING"], notifications="off")
    (scenario,) = result.scenarios
    assert failed_rules(result) == {"TMF699-LIST-01"}  # the 400s; FILTER-01 waits on the status gate
    paged = [c for s in scenario.steps for c in s.checks if c.rule_id == "TMF630-PAGE-08"]
    assert len(paged) == 2 and all(c.status == Status.SKIPPED for c in paged)
    and_filter = [c for s in scenario.steps for c in s.checks if c.rule_id == "TMF630-FILTER-02"]
    assert len(and_filter) == 2 and all(c.status == Status.PASSED for c in and_filter)
    assert scenario.steps[-1].checks and scenario.steps[-1].checks[-1].status == Status.PASSED  # the last read
