"""The v5 suite at the depth of the v4 one: issue 9's checks adopted for both v5 resources."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tmf699ctk import _checks as c
from tmf699ctk._compare import patch_differences
from tmf699ctk._listener import Listener
from tmf699ctk._resources import data_dir
from tmf699ctk._results import HttpRequest, HttpResponse, Status
from tmf699ctk._rules import BY_ID
from tmf699ctk._scenarios import load_all
from tmf699ctk._schemas import SchemaStore
from tmf699ctk.server.independent_v5 import IndependentV5Server

from .conftest import failed_rules, run_suite

V5 = "5.0.0"
BASE = "http://127.0.0.1:1/tmf-api/salesManagement/v5"
# issue 9's deeper checks, once v4-only: the v5 suite now applies each of them to both resources
ADOPTED = ("TMF699-CREATE-05", "TMF699-CREATE-06", "TMF699-CREATE-07", "TMF630-PAGE-05", "TMF630-PAGE-06",
           "TMF630-FIELDS-05", "TMF630-FIELDS-06", "TMF630-FILTER-05", "TMF630-PATCH-11", "TMF630-PATCH-12",
           "TMF630-PATCH-13", "TMF630-PATCH-14", "TMF699-EVENT-08")


@pytest.fixture(scope="module")
def v5_schemas() -> SchemaStore:
    return SchemaStore.load("tmf699-v5.0.0")


def v5_scenarios() -> list:
    return [s for path in sorted(data_dir("scenarios").glob("v5/*.yaml")) for s in load_all(path)]


@pytest.mark.parametrize("rule_id", ADOPTED)
def test_the_adopted_rule_applies_to_both_versions_and_the_v5_suite_uses_it_on_both_resources(rule_id: str) -> None:
    assert BY_ID[rule_id].versions == frozenset({"4.0.0", V5})
    users = {s.id.rsplit("-", 1)[1] for s in v5_scenarios() for step in s.steps
             if any(e.rule.id == rule_id for e in step.expect)}
    assert users == {"LEAD", "OPPORTUNITY"}


def test_each_matrix_value_of_an_exclusive_file_runs_alone_not_with_its_siblings() -> None:
    """The lead's pages must not see the lead the opportunity's paging scenario creates."""
    lead, opportunity = load_all(data_dir("scenarios") / "v5" / "03-list-pagination.yaml")
    assert lead.exclusive and opportunity.exclusive and lead.exclusive != opportunity.exclusive


def test_a_refused_v5_attribute_fails_once_by_name_and_the_scenario_goes_on_without_it(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, api_version=V5, faults=["create-rejects-contact-subtypes"],
                       only=["V5-CREATE-LEAD"])
    assert failed_rules(result) == {"TMF699-CREATE-05"}
    (refused,) = [ch for ch in result.checks() if ch.rule_id == "TMF699-CREATE-05"]
    assert "it rejects prospectContactMedium" in refused.message and "goes on without it" in refused.message
    echoed = [ch for ch in result.checks() if ch.rule_id == "TMF699-CREATE-04"]
    assert [ch.status for ch in echoed] == [Status.PASSED]  # the body the server accepted is stored
    assert {ch.rule_id for ch in result.checks() if ch.status == Status.PASSED} >= {
        "TMF699-CREATE-06", "TMF699-CREATE-07", "TMF630-HREF-02"}


def test_a_v5_merge_patch_is_modelled_whole_for_the_opportunity_too(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, api_version=V5, faults=["patch-replaces-nested"],
                       only=["V5-UPDATE-NESTED-OPPORTUNITY"])
    assert failed_rules(result) == {"TMF630-PATCH-12"}
    step = next(st for sc in result.scenarios for st in sc.steps if st.name.startswith("PATCH nested objects"))
    (nested,) = [ch for ch in step.checks if ch.rule_id == "TMF630-PATCH-12" and ch.status == Status.FAILED]
    assert "$.category.version: dropped" in nested.message and "$.validFor.startDateTime: dropped" in nested.message


def test_the_independent_v5_server_refuses_a_repeated_body_with_409_and_reorders_arrays(tmp_path: Path) -> None:
    with IndependentV5Server() as server:
        result = run_suite(tmp_path, base_url=server.url, api_version=V5,
                           only=["V5-CREATE-LEAD", "V5-CREATE-OPPORTUNITY", "V5-UPDATE-LEAD", "V5-UPDATE-NESTED-LEAD"])
    assert result.verdict == "PASS" and failed_rules(result) == set()
    repeated = [ch for ch in result.checks() if ch.rule_id == "TMF699-CREATE-06"]
    assert [ch.message for ch in repeated] == ["409 Conflict: the duplicate is refused"] * 2
    create = result.scenarios[0].steps[0].exchange
    sent, stored = json.loads(create.request.body), json.loads(create.response.body)
    assert stored["prospectContactMedium"] == sent["prospectContactMedium"][::-1]  # a freedom the spec allows
    assert {ch.rule_id for ch in result.checks() if ch.status == Status.PASSED} >= {
        "TMF630-PATCH-11", "TMF630-PATCH-12", "TMF630-PATCH-13", "TMF630-PATCH-14"}


def test_patch_differences_reads_a_null_as_removal_at_any_depth() -> None:
    patch = {"rating": None, "validFor": {"startDateTime": None, "endDateTime": "2028-11-01T00:00:00Z"}}
    assert patch_differences(patch, {"validFor": {"endDateTime": "2028-11-01T00:00:00.000Z"}}) == []
    assert patch_differences(patch, {"rating": "hot", "validFor": {"endDateTime": "2028-11-01T00:00:00Z"}}) == [
        "$.rating: still 'hot', but the patch removes it (null)"]
    assert patch_differences(patch, {"validFor": {"startDateTime": "x"}}) == [
        "$.validFor.startDateTime: still 'x', but the patch removes it (null)",
        "$.validFor.endDateTime: missing (sent '2028-11-01T00:00:00Z')"]


def _ctx(body: dict, schemas: SchemaStore) -> c.CheckContext:
    response = HttpResponse(200, "OK", "HTTP/1.1", [("Content-Type", "application/json")], json.dumps(body), 10, 1.0)
    return c.CheckContext(HttpRequest("GET", BASE + "/salesOpportunity/1", [], None), response, schemas, BASE)


def test_merge_untouched_leaves_lastupdate_to_the_server_but_not_the_other_attributes(v5_schemas: SchemaStore) -> None:
    before = {"@type": "SalesOpportunity", "id": "1", "name": "x", "description": "d", "@baseType": "SalesOpportunity",
              "lastUpdate": "2026-01-01T00:00:00Z"}
    patch = {"@type": "SalesOpportunity", "priority": "low"}
    moved = {**before, "priority": "low", "lastUpdate": "2026-01-01T00:00:01Z"}
    assert c.merge_untouched(_ctx(moved, v5_schemas), before, patch, "SalesOpportunity") == (
        "4 untouched attributes unchanged")
    lost = {k: v for k, v in moved.items() if k != "@baseType"}
    with pytest.raises(c.CheckFailed, match=r"\$\.@baseType: missing after the patch"):
        c.merge_untouched(_ctx(lost, v5_schemas), before, patch, "SalesOpportunity")


def test_an_opportunity_event_is_compared_with_the_api_under_its_own_key() -> None:
    api = {"id": "7", "name": "CTK opportunity", "priority": "high"}
    event = {"eventType": "SalesOpportunityAttributeValueChangeEvent",
             "event": {"salesOpportunity": {"id": "7", "@type": "SalesOpportunity", "priority": "low"}}}
    ctx = c.EventContext("/callback/s1/listener/x", [], json.dumps(event), 5.0, None, BASE)  # type: ignore[arg-type]
    wrong = r"\$\.event\.salesOpportunity\.priority: event has 'low', the API has 'high'"
    with pytest.raises(c.CheckFailed, match=wrong):
        c.event_lead_matches(ctx, api, resource="salesOpportunity")
    with pytest.raises(c.CheckInconclusive, match=r"no event\.salesLead"):
        c.event_lead_matches(ctx, api)  # v4's default key: the opportunity is not found under it


def test_the_listener_takes_a_burst_of_notifications_sent_at_once() -> None:
    """The independent v5 server POSTs each event to each subscription on its own connection, all
    at once: connections beyond the listener's accept queue were refused and events lost."""
    listener = Listener()
    host, port = listener.listen.rsplit(":", 1)
    burst: list[socket.socket] = []
    try:
        try:
            for _ in range(40):  # connected before the listener accepts any: they wait in its queue
                burst.append(socket.create_connection((host, int(port)), timeout=0.5))
        finally:
            listener.start()  # before any stop: shutting down a server that never served waits forever
        path = listener.base_path + "/listener/salesLeadCreateEvent"
        for index, connection in enumerate(burst):
            connection.settimeout(10)  # the answer may wait for a busy machine; the connection may not
            body = json.dumps({"eventId": str(index), "eventType": "SalesLeadCreateEvent"}).encode()
            connection.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        answers = [connection.recv(64) for connection in burst]
    finally:
        for connection in burst:
            connection.close()
        listener.stop()
    assert all(a.startswith(b"HTTP/1.1 201") for a in answers)
    assert sorted(int(e.json()["eventId"]) for e in listener.events) == list(range(40))
