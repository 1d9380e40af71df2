"""Each check on hand-made responses: it passes on a conformant answer and names the fault otherwise."""

import json

import pytest

from tmf699ctk import _checks as c
from tmf699ctk._checks import CheckContext, CheckFailed
from tmf699ctk._results import HttpRequest, HttpResponse

BASE = "http://127.0.0.1:9/tmf-api/sales/v4"
LEAD = {"id": "L1", "href": f"{BASE}/salesLead/L1", "name": "n", "status": "acknowledged",
        "creationDate": "2026-11-26T10:00:00.000Z", "statusChangeDate": "2026-11-26T10:00:00.000Z",
        "priority": "high"}


def ctx(body: object = None, status: int = 200, headers: dict | None = None, raw: str | None = None,
        url: str = f"{BASE}/salesLead", schemas=None) -> CheckContext:
    text = raw if raw is not None else ("" if body is None else json.dumps(body))
    hdrs = {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
    response = HttpResponse(status, "OK", "HTTP/1.1", list(hdrs.items()), text, len(text), 1.0)
    return CheckContext(HttpRequest("GET", url, [], None), response, schemas, BASE)


def fails(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_status_in() -> None:
    assert c.status_in(ctx(LEAD, 201), 201) == "HTTP 201"
    assert c.status_in(ctx([], 206), [200, 206]) == "HTTP 206"
    assert fails(c.status_in, ctx({"code": "x"}, 200), 201).startswith("expected HTTP 201, got 200 OK")


def test_non_json_body_is_named_not_a_traceback() -> None:
    assert "is not JSON" in fails(c.is_object, ctx(raw="<html>oops</html>"))
    assert "empty body" in fails(c.is_object, ctx(raw=""))


def test_json_content_type_accepts_charset_and_plus_json() -> None:
    assert c.json_content_type(ctx(LEAD, headers={"Content-Type": "application/json"}))
    assert c.json_content_type(ctx(LEAD, headers={"Content-Type": "application/vnd.tmf+json; charset=UTF-8"}))
    assert "text/plain" in fails(c.json_content_type, ctx(LEAD, headers={"Content-Type": "text/plain"}))


def test_schema_on_items_names_the_item(schemas) -> None:
    bad = [LEAD, {**LEAD, "status": "ACKNOWLEDGED"}]
    message = fails(c.schema, ctx(bad, schemas=schemas), "SalesLead", items=True)
    assert "$[1].status: 'ACKNOWLEDGED' is not one of" in message
    assert c.schema(ctx([LEAD], schemas=schemas), "SalesLead", items=True) == "valid SalesLead (1 items)"


def test_error_body(schemas) -> None:
    assert c.error_body(ctx({"code": "404", "reason": "Not Found"}, 404, schemas=schemas)) == "valid Error"
    assert "'code' is a required property" in fails(c.error_body, ctx({"reason": "x"}, 404, schemas=schemas))
    assert "empty body" in fails(c.error_body, ctx(raw="", status=404, schemas=schemas))


def test_echoes_tolerates_normalised_dates_numbers_and_extra_attributes() -> None:
    sent = {"referredDate": "2026-11-02T09:30:00Z", "estimatedRevenue": {"value": 1000},
            "relatedParty": [{"id": "p", "@referredType": "Individual"}]}
    got = {"referredDate": "2026-11-02T10:30:00.000+01:00", "estimatedRevenue": {"value": 1000.0, "unit": "EUR"},
           "relatedParty": [{"id": "p", "@referredType": "Individual", "href": "http://p"}], "id": "1"}
    assert c.echoes(ctx(got), sent) == "3 attributes echoed"


def test_echoes_names_every_missing_or_changed_value() -> None:
    message = fails(c.echoes, ctx({"name": "n", "note": []}), {"name": "m", "note": [{"text": "t"}], "rating": "hot"})
    assert "$.name: expected 'm', got 'n'" in message
    assert "$.note: expected 1 items, got 0" in message
    assert "$.rating: missing (sent 'hot')" in message


def test_href_consistent() -> None:
    assert c.href_consistent(ctx(LEAD)) == LEAD["href"]
    assert "not an absolute" in fails(c.href_consistent, ctx({**LEAD, "href": "/tmf-api/sales/v4/salesLead/L1"}))
    wrong = ctx({**LEAD, "href": f"{BASE}/salesLead/L2"})
    assert "does not end with '/salesLead/L1'" in fails(c.href_consistent, wrong)


def test_location_header_accepts_relative_references() -> None:
    assert c.location_header(ctx(LEAD, 201, {"Location": "/tmf-api/sales/v4/salesLead/L1"}))
    assert c.location_header(ctx(LEAD, 201, {"Location": LEAD["href"]}))
    assert "without a Location" in fails(c.location_header, ctx(LEAD, 201))
    assert "does not point" in fails(c.location_header, ctx(LEAD, 201, {"Location": "/salesLead/other"}))


def test_fields_only_allows_id_href_and_type_metadata() -> None:
    items = [{"id": "L1", "href": "h", "name": "n", "@type": "SalesLead"}, {"id": "L2", "href": "h"}]
    assert c.fields_only(ctx(items), ["name"], items=True, expected=LEAD)
    message = fails(c.fields_only, ctx([{**LEAD}]), ["name"], items=True)
    assert "item 0 (id 'L1') also carries creationDate, priority, status, statusChangeDate" in message


def test_fields_only_requires_the_attribute_only_on_our_lead() -> None:
    # another lead without priority is fine; our lead, which has one, must show it
    assert c.fields_only(ctx([{"id": "X", "href": "h"}, {"id": "L1", "href": "h", "priority": "high"}]),
                         ["priority"], items=True, expected=LEAD)
    message = fails(c.fields_only, ctx([{"id": "L1", "href": "h"}]), ["priority"], items=True, expected=LEAD)
    assert "the lead's priority is missing" in message


def test_filtered_catches_an_ignored_filter_and_compares_dates_as_instants() -> None:
    items = [LEAD, {**LEAD, "id": "L2", "status": "pending"}]
    message = fails(c.filtered, ctx(items), {"status": "acknowledged"}, include=["L1"])
    assert "returned item 'L2' whose status is 'pending'" in message
    same_instant = {"creationDate": "2026-11-26T11:00:00+01:00"}
    assert c.filtered(ctx([LEAD]), same_instant, include=["L1"]) == "1 matching item(s)"


def test_filtered_or_and_operators() -> None:
    items = [LEAD, {**LEAD, "id": "L2", "name": "m"}]
    assert c.filtered(ctx(items), {"name": ["n", "m"]}, include=["L1", "L2"])
    later = {**LEAD, "id": "L3", "creationDate": "2026-11-26T10:00:01Z"}
    assert c.filtered(ctx([later]), {"creationDate.gt": LEAD["creationDate"]}, exclude=["L1"])
    assert "whose creationDate" in fails(c.filtered, ctx([LEAD]), {"creationDate.gt": LEAD["creationDate"]})


def test_filtered_requires_the_matching_lead() -> None:
    assert "matches the filter but is not returned" in fails(c.filtered, ctx([]), {"name": "n"}, include=["L1"])


def test_count_headers() -> None:
    good = ctx([LEAD], headers={"X-Total-Count": "5", "X-Result-Count": "1"})
    assert c.count_headers_consistent(good) == "X-Result-Count 1, X-Total-Count 5"
    assert "X-Result-Count is 2" in fails(c.count_headers_consistent, ctx([LEAD], headers={"X-Result-Count": "2"}))
    assert "exactly 1 leads match" in fails(c.count_headers_consistent, good, total=1)
    assert "not an integer" in fails(c.count_headers_consistent, ctx([LEAD], headers={"X-Total-Count": "many"}))
    assert "without X-Total-Count and X-Result-Count" in fails(c.count_headers_present, ctx([LEAD]))


def test_a_lead_missing_from_a_partial_page_is_inconclusive_not_a_failure() -> None:
    other = {**LEAD, "id": "X"}
    partial = ctx([other], status=206, headers={"X-Total-Count": "5000"})
    with pytest.raises(c.CheckInconclusive, match="may be on another page"):
        c.list_contains(partial, "L1")
    with pytest.raises(c.CheckInconclusive):
        c.list_contains(ctx([other], headers={"X-Total-Count": "5000"}), "L1")  # 200 but clearly a page
    with pytest.raises(c.CheckInconclusive):
        c.fields_only(ctx([{"id": "X", "href": "h"}], status=206), ["name"], items=True, expected=LEAD)
    with pytest.raises(c.CheckInconclusive):
        c.values_equal(partial, LEAD, ["name"], items=True)
    # a complete list without the lead is a failure
    assert "is not among the 1 items" in fails(c.list_contains, ctx([other], headers={"X-Total-Count": "1"}), "L1")


def test_every_lead_of_a_set_must_be_listed_whichever_is_lost() -> None:
    listed = [{**LEAD, "id": i} for i in ("A", "B", "C")]
    assert c.list_contains(ctx(listed), ids=["A", "B", "C"]) == "all 3 present among 3 items"
    # the set is created concurrently: losing its first or its last is the same finding
    for lost in ("A", "C"):
        kept = [item for item in listed if item["id"] != lost]
        assert f"'{lost}' is not among the 2 items" in fails(c.list_contains, ctx(kept), ids=["A", "B", "C"])
    assert "2 of the 3 leads looked for are missing: 'A', 'C'" in fails(c.list_contains, ctx(listed[1:2]),
                                                                          ids=["A", "B", "C"])
    with pytest.raises(c.CheckInconclusive, match="may be on another page"):
        c.list_contains(ctx(listed[:1], status=206, headers={"X-Total-Count": "5000"}), ids=["A", "B"])
    with pytest.raises(c.CheckInconclusive, match="none was created"):
        c.list_contains(ctx(listed), ids=[])
    for wrong in ({"id": "A", "ids": ["A"]}, {"ids": ["A"], "present": False}, {}):
        with pytest.raises(ValueError, match="either id"):
            c.list_contains(ctx(listed), **wrong)


def test_paging() -> None:
    assert "limit=1 but 2 items" in fails(c.page_size, ctx([LEAD, LEAD]), 1)
    assert "offset is ignored" in fails(c.page_disjoint, ctx([LEAD]), [LEAD])
    assert c.page_disjoint(ctx([{**LEAD, "id": "L2"}]), [LEAD]) == "pages are disjoint"


def test_changed_later() -> None:
    before = LEAD["statusChangeDate"]
    assert c.changed_later(ctx({**LEAD, "statusChangeDate": "2026-11-26T10:00:01Z"}), "statusChangeDate", before)
    # the same instant written otherwise, with a fraction that shows the clock's resolution
    assert "stayed" in fails(c.changed_later, ctx({**LEAD, "statusChangeDate": "2026-11-26T11:00:00.250+01:00"}),
                             "statusChangeDate", "2026-11-26T10:00:00.250Z")
    with pytest.raises(c.CheckInconclusive, match="1-second resolution"):
        c.changed_later(ctx({**LEAD, "statusChangeDate": "2026-11-26T10:00:00Z"}), "statusChangeDate",
                        "2026-11-26T10:00:00Z")
    assert "backwards" in fails(c.changed_later, ctx({**LEAD, "statusChangeDate": "2020-01-01T00:00:00Z"}),
                                "statusChangeDate", before)
    # whole seconds written with .000 (Node's toISOString of a DATETIME column): as unable to show it
    with pytest.raises(c.CheckInconclusive, match="1-second resolution"):
        c.changed_later(ctx({**LEAD, "statusChangeDate": "2026-11-26T10:00:00.000Z"}), "statusChangeDate",
                        "2026-11-26T10:00:00.000Z")


def test_updated_later_judges_lastupdate_only_where_there_is_one() -> None:
    assert c.updated_later(ctx({**LEAD, "lastUpdate": "2026-11-26T10:00:01.500Z"}), "2026-11-26T10:00:00.250Z")
    same = ctx({**LEAD, "lastUpdate": "2026-11-26T10:00:00.250Z"})
    assert "although the lead was changed" in fails(c.updated_later, same, "2026-11-26T10:00:00.250Z")
    for before, after in ((None, "2026-11-26T10:00:00Z"), ("2026-11-26T10:00:00.250Z", None)):
        with pytest.raises(c.CheckInconclusive):
            c.updated_later(ctx({**LEAD, "lastUpdate": after} if after else dict(LEAD)), before)


def test_no_body() -> None:
    assert c.no_body(ctx(raw="", status=204)) == "empty body"
    assert "expected no body" in fails(c.no_body, ctx({"a": 1}, 204))


def test_values_equal_on_lists_finds_the_lead_by_id() -> None:
    assert c.values_equal(ctx([{"id": "X"}, LEAD]), LEAD, ["name", "status"], items=True)
    assert "lead 'L1' is not in the list" in fails(c.values_equal, ctx([{"id": "X"}]), LEAD, ["name"], items=True)


def test_json_path_assertions() -> None:
    body = ctx({**LEAD, "note": [{"text": "t"}]})
    assert c.json_path(body, "$.note[0].text", equals="t") == "$.note[0].text = 't'"
    assert c.json_path(body, "$.missing", exists=False) == "$.missing is absent"
    assert "$.missing does not exist" in fails(c.json_path, body, "$.missing")
    assert "expected 'low'" in fails(c.json_path, body, "$.priority", equals="low")
    assert "expected array" in fails(c.json_path, body, "$.priority", type="array")
    assert "does not match" in fails(c.json_path, body, "$.name", matches="^x")
    assert "not one of" in fails(c.json_path, body, "$.status", one_of=["pending"])
    assert "expected 2" in fails(c.json_path, body, "$.note", length=2)
    assert c.json_path(body, "$.creationDate", equals="2026-11-26T11:00:00+01:00")  # same instant


def test_header_assertions() -> None:
    response = ctx(LEAD, headers={"X-Total-Count": "3"})
    assert c.header(response, "x-total-count", equals="3") == "x-total-count: 3"
    assert "no Location header" in fails(c.header, response, "Location")
    assert c.header(response, "Location", present=False) == "no Location header"
    assert "does not match" in fails(c.header, response, "X-Total-Count", matches="^[4-9]")


# -- comparison semantics ----------------------------------------------------------------------------

def test_arrays_compare_regardless_of_item_order_but_not_of_content() -> None:
    from tmf699ctk._compare import differences

    sent = [{"text": "a", "author": "x"}, {"text": "b"}]
    assert differences(sent, [{"text": "b", "id": "2"}, {"text": "a", "author": "x", "id": "1"}]) == []
    # the unmatched item is compared with its closest counterpart, not position by position
    assert differences(sent, [{"text": "b"}, {"text": "a", "author": "y"}]) == ["$[0].author: expected 'x', got 'y'"]
    assert differences(sent, [{"text": "a", "author": "x"}]) == ["$: expected 2 items, got 1"]


def test_merge_patch_follows_rfc_7396() -> None:
    from tmf699ctk._compare import merge_patch

    before = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    assert merge_patch(before, {"a": {"b": None, "f": 3}, "d": [9], "e": None}) == {"a": {"c": 2, "f": 3}, "d": [9]}
    assert before == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}  # untouched


# -- vacuous passes are inconclusive --------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: c.values_equal(ctx([{"id": None, "name": "n"}]), {"name": "n"}, ["name"], items=True),
    lambda: c.values_equal(ctx([{"name": "n"}, {"name": "m"}]), LEAD, ["name"], items=True),
    lambda: c.values_equal(ctx(LEAD), {"id": "L1"}, ["priority"]),
    lambda: c.equals_resource(ctx(LEAD), {"id": "L1"}, attributes=["rating"]),
    lambda: c.echoes(ctx(LEAD), {}),
    lambda: c.has_attributes(ctx([]), ["id"], items=True),
    lambda: c.count_headers_consistent(ctx([LEAD])),
    lambda: c.page_disjoint(ctx([{"name": "x"}]), [{"name": "y"}]),
    lambda: c.filtered(ctx([]), {"name": "n"}),
], ids=["expected-lead-without-id", "items-without-id", "attribute-absent", "resource-attribute-absent",
        "nothing-sent", "empty-list", "no-count-headers", "pages-without-ids", "empty-filter-result"])
def test_a_check_with_nothing_to_examine_is_inconclusive_not_passed(call) -> None:
    with pytest.raises(c.CheckInconclusive):
        call()


# -- create, duplicate, plausibility ------------------------------------------------------------------

def test_second_create_must_not_return_the_first_lead() -> None:
    assert c.second_create(ctx({**LEAD, "id": "L2"}, 201), LEAD) == "a second lead 'L2' (the first is 'L1')"
    assert c.second_create(ctx({"code": "409", "reason": "Conflict"}, 409), LEAD).startswith("409")
    assert "with the first lead's id 'L1'" in fails(c.second_create, ctx(LEAD, 201), LEAD)
    assert "expected 201 (a second lead) or 409" in fails(c.second_create, ctx({"code": "x"}, 400), LEAD)


def test_the_first_lead_survives_a_duplicate_post() -> None:
    assert c.unchanged_by_duplicate(ctx(LEAD), LEAD, {**LEAD, "id": "L2"})
    assert "removed or replaced" in fails(c.unchanged_by_duplicate, ctx({"code": "404"}, 404), LEAD)
    assert "$.name: the lead as created has 'n', the lead now has 'm'" in fails(
        c.unchanged_by_duplicate, ctx({**LEAD, "name": "m"}), LEAD)
    with pytest.raises(c.CheckInconclusive, match="TMF699-CREATE-06"):  # one cause, reported there
        c.unchanged_by_duplicate(ctx({**LEAD, "name": "m"}), LEAD, LEAD)


def test_server_set_dates_may_not_be_in_the_future_beyond_the_clock_skew() -> None:
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(seconds=100)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert c.not_in_future(ctx({**LEAD, "creationDate": soon}), ["creationDate"])  # within 300 s
    assert "in the future" in fails(c.not_in_future, ctx({**LEAD, "creationDate": later}), ["creationDate"])
    lenient = ctx({**LEAD, "creationDate": later})
    lenient.clock_skew = 7200
    assert c.not_in_future(lenient, ["creationDate"])
    assert "is before creationDate" in fails(c.not_before, ctx({**LEAD, "statusChangeDate": "2026-11-26T00:00:00Z"}))


def test_location_must_resolve_inside_the_base_url_to_the_href() -> None:
    created = ctx(LEAD, 201, {"Location": "/tmf-api/sales/v4/salesLead/L1"}, url=f"{BASE}/salesLead")
    assert c.location_in_base(created)
    internal = ctx(LEAD, 201, {"Location": "http://backend.internal:8080/tmf-api/sales/v4/salesLead/L1"})
    assert "outside the API's base URL" in fails(c.location_in_base, internal)
    with pytest.raises(c.CheckInconclusive, match="LOCATION-01"):
        c.location_in_base(ctx(LEAD, 201))


# -- merge patch -------------------------------------------------------------------------------------------

BEFORE = {**LEAD, "rating": "hot", "note": [{"text": "a"}, {"text": "b"}],
          "validFor": {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}}


def test_merge_applied_models_nested_objects_nulls_and_arrays(schemas) -> None:
    patch = {"validFor": {"endDateTime": "2028-01-01T00:00:00Z"}, "rating": None, "note": [{"text": "c"}]}
    good = {**{k: v for k, v in BEFORE.items() if k != "rating"},
            "validFor": {"startDateTime": "2026-01-01T01:00:00+01:00", "endDateTime": "2028-01-01T00:00:00Z"},
            "note": [{"text": "c", "id": "n1"}]}
    assert c.merge_applied(ctx(good, schemas=schemas), BEFORE, patch)
    replaced = {**good, "validFor": {"endDateTime": "2028-01-01T00:00:00Z"}}
    assert "$.validFor.startDateTime: dropped" in fails(c.merge_applied, ctx(replaced), BEFORE, patch, only="objects")
    kept = {**good, "rating": "hot"}
    assert "$.rating: still 'hot', but the patch set it to null" in fails(c.merge_applied, ctx(kept), BEFORE, patch)
    appended = {**good, "note": [{"text": "a"}, {"text": "b"}, {"text": "c"}]}
    assert "replaces the array whole" in fails(c.merge_applied, ctx(appended), BEFORE, patch, only="arrays")
    # each rule judges its part: the array defect is not the null rule's
    assert c.merge_applied(ctx(appended), BEFORE, patch, only="nulls")
    with pytest.raises(c.CheckInconclusive, match="no arrays"):
        c.merge_applied(ctx(good), BEFORE, {"rating": None}, only="arrays")


def test_a_lead_replaced_by_its_patch_is_one_finding_not_one_per_merge_rule(schemas) -> None:
    """PUT semantics (the patch stored as the whole lead) is TMF630-PATCH-11's finding; the nested,
    null and array rules cannot judge their part apart from it. Without the loss of untouched
    attributes, the same nested replacement is PATCH-12's own failure (shown above)."""
    patch = {"validFor": {"endDateTime": "2028-01-01T00:00:00Z"}}
    put = {k: BEFORE[k] for k in ("id", "href", "name", "status")} | patch
    with pytest.raises(c.CheckInconclusive, match=r"replaced, not merged \(.*rating.*TMF630-PATCH-11"):
        c.merge_applied(ctx(put), BEFORE, patch, only="objects")
    assert "rating: missing after the patch" in fails(c.merge_untouched, ctx(put, schemas=schemas), BEFORE, patch)
    # the whole-patch rules (PATCH-02/03: only=None) still judge what the patch named
    assert c.merge_applied(ctx({**put, "validFor": {**BEFORE["validFor"], **patch["validFor"]}}), BEFORE, patch)


@pytest.mark.parametrize("lost", [["_links"], ["@baseType", "@schemaLocation"], ["rating"]],
                         ids=["an attribute outside the spec", "the polymorphism attributes", "one attribute"])
def test_a_nested_defect_beside_a_lost_attribute_is_still_the_nested_rules_finding(lost: list[str]) -> None:
    """Losing some attributes is not a replacement: a nested object replaced beside it fails PATCH-12."""
    before = {**BEFORE, "_links": {"self": "x"}, "@baseType": "SalesLead", "@schemaLocation": "https://x/s.json"}
    patch = {"validFor": {"endDateTime": "2028-01-01T00:00:00Z"}}
    answer = {k: v for k, v in before.items() if k not in lost} | patch  # validFor replaced, not merged
    assert "$.validFor.startDateTime: dropped" in fails(c.merge_applied, ctx(answer), before, patch, only="objects")


def test_the_get_after_a_patch_does_not_repeat_the_responses_defect() -> None:
    patch = {"rating": None}
    kept = {**BEFORE}
    with pytest.raises(c.CheckInconclusive, match="PATCH response"):
        c.merge_applied(ctx(kept), BEFORE, patch, reported=kept)
    # the response was right, the stored lead is not: the change did not persist
    assert "still 'hot'" in fails(c.merge_applied, ctx(kept), BEFORE, patch,
                                  reported={k: v for k, v in BEFORE.items() if k != "rating"})


def test_untouched_attributes_and_status_change_date(schemas) -> None:
    after = {**BEFORE, "priority": "low"}
    assert c.merge_untouched(ctx(after, schemas=schemas), BEFORE, {"priority": "low"})
    lost = {k: v for k, v in after.items() if k != "rating"}
    assert "$.rating: missing after the patch" in fails(c.merge_untouched, ctx(lost, schemas=schemas), BEFORE,
                                                         {"priority": "low"})
    moved = {**after, "statusChangeDate": "2026-11-26T10:05:00Z"}
    assert "statusChangeDate" in fails(c.merge_untouched, ctx(moved, schemas=schemas), BEFORE, {"priority": "low"})
    # a status change may move it; attributes outside the spec are the server's business
    changed = {**BEFORE, "status": "inProgress", "statusChangeDate": "2026-11-26T10:05:00Z", "lastUpdate": "now"}
    before = {**BEFORE, "lastUpdate": "before"}
    assert c.merge_untouched(ctx(changed, schemas=schemas), before, {"status": "inProgress"})


def test_the_patch_response_is_what_the_next_get_returns(schemas) -> None:
    response = {**BEFORE, "status": "inProgress", "statusChangeDate": "2026-11-26T10:05:00.001Z"}
    stored = {**response, "statusChangeDate": "2026-11-26T10:05:00.002Z"}
    patch = {"status": "inProgress"}
    assert c.same_as_response(ctx(response, schemas=schemas), response, BEFORE, patch)
    message = fails(c.same_as_response, ctx(stored, schemas=schemas), response, BEFORE, patch)
    assert "$.statusChangeDate: the PATCH response has '2026-11-26T10:05:00.001Z', GET has" in message
    # an untouched attribute the response already got wrong is PATCH-11's finding, not this one's
    wrong = {**response, "name": "changed"}
    assert c.same_as_response(ctx(response, schemas=schemas), wrong, BEFORE, patch)


# -- fields, filters, paging, sorting ------------------------------------------------------------------------

def test_fields_values_must_be_the_full_leads() -> None:
    full = {**LEAD, "relatedParty": [{"id": "p", "role": "prospect", "@referredType": "Individual"}]}
    assert c.fields_values(ctx([{"id": "L1", "href": "h", "relatedParty": full["relatedParty"]}]), ["relatedParty"],
                           full, items=True)
    shallow = ctx([{"id": "L1", "href": "h", "relatedParty": [{"id": "p"}]}])
    assert "$.relatedParty[0].role: missing" in fails(c.fields_values, shallow, ["relatedParty"], full, items=True)


def test_fields_with_a_filter_gives_the_filtered_leads_projected_alike() -> None:
    alone = [{"id": "L1", "href": "h", "priority": "high"}]
    where = {"name": "n"}
    assert c.fields_filtered(ctx(alone), ["priority"], where, [LEAD], alone)
    everything = ctx([*alone, {"id": "X", "href": "h", "priority": "low"}])
    assert "1 lead(s) the filter excludes" in fails(c.fields_filtered, everything, ["priority"], where, [LEAD], alone)
    unprojected = ctx([LEAD])
    assert "other attributes than without one" in fails(c.fields_filtered, unprojected, ["priority"], where, [LEAD],
                                                         alone)


def test_an_equality_filter_must_exclude_look_alikes() -> None:
    decoys = [{"id": "D1", "name": "n extended"}, {"id": "D2", "name": "N"}]
    assert c.filtered_exact(ctx([LEAD]), "name", "n", ["L1"], ["D1", "D2"])
    message = fails(c.filtered_exact, ctx([LEAD, *decoys]), "name", "n", ["L1"], ["D1", "D2"])
    assert "only resembles it: 'n extended', 'N'" in message
    with pytest.raises(c.CheckInconclusive, match="ignored altogether"):
        c.filtered_exact(ctx([LEAD, decoys[0], {"id": "Z", "name": "zzz"}]), "name", "n", ["L1"], ["D1"])


def test_pages_are_slices_of_the_unpaged_list() -> None:
    every = [{"id": f"L{i}"} for i in range(8)]
    assert c.page_slice(ctx(every[3:5]), every, 3, 2)
    assert "offset is read as a page number" in fails(c.page_slice, ctx(every[6:8]), every, 3, 2)
    assert "items 1..2 of the unpaged list are ['L1', 'L2']" in fails(c.page_slice, ctx([every[1], every[3]]),
                                                                       every, 1, 2)
    with pytest.raises(c.CheckInconclusive, match="PAGE-03"):
        c.page_slice(ctx(every), every, 1, 2)
    # past the last match: an empty page, not the last page again (unless the unpaged list was partial)
    assert c.page_slice(ctx([]), every, 13, 2) == "offset 13, past the 8 leads: an empty page"
    assert "not the last page" in fails(c.page_slice, ctx(every[6:8]), every, 13, 2)
    for page, total in ((every[6:8], 40), (every[:2], None)):  # a partial unpaged list; offset ignored (PAGE-04)
        with pytest.raises(c.CheckInconclusive):
            c.page_slice(ctx(page), every, 13, 2, total=total)
    assert "the unpaged list counts 8 leads" in fails(c.page_total, ctx(every[:2], headers={"X-Total-Count": "2"}), 8)
    assert "L1" in fails(c.unique_ids, ctx([LEAD, LEAD]))


def test_sorting_orders_our_leads_and_ignores_the_others() -> None:
    ours = [{"id": "A", "name": "s A"}, {"id": "B", "name": "s B"}, {"id": "C", "name": "s C"}]
    other = {"id": "Z", "name": "zzz"}
    assert c.sorted_by(ctx([ours[0], other, ours[1], ours[2]]), "name", ["C", "A", "B"])
    assert "lead 'C' ('s C') comes before 'A'" in fails(c.sorted_by, ctx([ours[2], ours[0], ours[1]]), "name",
                                                        ["C", "A", "B"])
    dated = [{"id": "A", "creationDate": "2026-01-01T00:00:02Z"},
             {"id": "B", "creationDate": "2026-01-01T01:00:01+01:00"}]
    assert c.sorted_by(ctx(dated), "creationDate", ["A", "B"], descending=True)  # instants, not strings


def test_a_lead_missing_from_a_sorted_list_is_not_an_order_failure() -> None:
    """A server losing its last match by name loses lead C, or another scenario's lead sorting after
    it when there is one (concurrent scenarios): TMF630-SORT-01 failed in some runs only. The order
    is judged among the leads returned; what is missing is TMF699-LIST-03's."""
    ours = [{"id": "A", "name": "s A"}, {"id": "B", "name": "s B"}, {"id": "C", "name": "s C"}]
    assert "2 leads in ascending name order; lead 'C' is missing" in c.sorted_by(
        ctx([ours[0], ours[1]]), "name", ["C", "A", "B"])
    assert "comes before" in fails(c.sorted_by, ctx([ours[1], ours[0]]), "name", ["C", "A", "B"])
    with pytest.raises(c.CheckInconclusive, match="missing from the sorted list"):
        c.sorted_by(ctx([ours[0]]), "name", ["C", "A", "B"])
    with pytest.raises(c.CheckInconclusive, match="206"):
        c.sorted_by(ctx([ours[0]], status=206), "name", ["C", "A", "B"])


# -- events ------------------------------------------------------------------------------------------------

def event(body: object) -> c.EventContext:
    return c.EventContext("/callback/listener/x", [], json.dumps(body), 5.0, None, BASE)


def test_event_envelope_requires_an_id_and_a_plausible_time() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).isoformat()
    assert c.event_envelope(event({"eventId": "e1", "eventTime": now}))
    assert "no eventId" in fails(c.event_envelope, event({"eventTime": now}))
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert "in the future" in fails(c.event_envelope, event({"eventId": "e1", "eventTime": ahead}))


def test_the_events_lead_may_carry_less_but_nothing_different() -> None:
    fewer = {"event": {"salesLead": {"id": "L1", "name": "n", "@type": "SalesLead"}}}
    assert c.event_lead_matches(event(fewer), LEAD) == "1 attributes as the API shows them"
    stale = {"event": {"salesLead": {"id": "L1", "priority": "low"}}}
    assert "$.event.salesLead.priority: event has 'high'" not in fails(c.event_lead_matches, event(stale), LEAD)
    assert "'low'" in fails(c.event_lead_matches, event(stale), LEAD)


def test_a_url_that_cannot_be_parsed_fails_the_check_that_reads_it_and_names_it() -> None:
    from tmf699ctk._checks import CheckInconclusive

    bad = {**LEAD, "href": "http://[sales/salesLead/L1"}
    message = fails(c.href_consistent, ctx(bad))
    assert message == "href 'http://[sales/salesLead/L1' is not a valid URL: Invalid IPv6 URL"
    garbage = ctx(LEAD, 201, {"Location": "http://[::1"})
    assert fails(c.location_header, garbage) == "Location 'http://[::1' is not a valid URL: Invalid IPv6 URL"
    with pytest.raises(CheckInconclusive, match="another rule reports it"):  # LOCATION-01 says it once
        c.location_in_base(garbage)
    with pytest.raises(CheckInconclusive, match="another rule reports it"):  # HREF-01 says it once
        c.location_in_base(ctx(bad, 201, {"Location": "/tmf-api/sales/v4/salesLead/L1"}))


def test_a_count_header_sent_twice_with_different_values_fails() -> None:
    items = [LEAD]
    response = ctx(items)
    response.response.headers += [("X-Total-Count", "1"), ("X-Result-Count", "1"), ("x-total-count", "99999")]
    assert fails(c.count_headers_consistent, response) == \
        "X-Total-Count is sent more than once, with different values: 1, 99999"
    same = ctx(items)
    same.response.headers += [("X-Total-Count", "1"), ("X-Result-Count", "1"), ("X-Total-Count", "01")]
    assert c.count_headers_consistent(same)


def test_a_lead_the_list_loses_without_fields_too_is_not_the_selections_doing() -> None:
    other = {"id": "X", "href": f"{BASE}/salesLead/X", "name": "o"}
    selected = ctx([{"id": "X", "href": other["href"], "name": "o"}])
    # missing from the list read without fields as well: inconclusive (TMF699-LIST-03's finding)
    for check in (lambda **kw: c.fields_only(selected, ["name"], items=True, expected=LEAD, **kw),
                  lambda **kw: c.fields_values(selected, ["name"], LEAD, items=True, **kw)):
        with pytest.raises(c.CheckInconclusive, match="TMF699-LIST-03"):
            check(unselected=[other])
        # listed without fields, lost with them: inconclusive too. The reads see the collection at
        # different moments (other scenarios' leads come and go): list-200-only-first failed FIELDS-01,
        # -02, -04 and -05 in 1 of 12 runs at --workers 4, losing the lead in some reads only
        with pytest.raises(c.CheckInconclusive, match="TMF699-LIST-03"):
            check(unselected=[other, LEAD])
        # without the comparison (a scenario that reads no list without the option), as before
        with pytest.raises(c.CheckFailed, match="missing from the fields-selected list"):
            check(unselected=None)


def test_a_selection_that_drops_ids_is_not_a_lost_lead_but_one_that_drops_a_lead_is() -> None:
    listed = [LEAD, {"id": "X", "href": f"{BASE}/salesLead/X"}]
    # the selected items carry no id, the list without fields does: the fields rules' finding
    with pytest.raises(c.CheckInconclusive, match="selection drops it"):
        c.list_contains(ctx([{"name": "n"}, {"name": "o"}]), "L1", unselected=listed)
    # ids kept, our lead gone from the selection (and the counts agree): a lost lead
    assert "is not among the 1 items" in fails(c.list_contains, ctx([listed[1]], headers={"X-Total-Count": "1"}),
                                               "L1", unselected=listed)
    # both without ids: the list's own defect, as without the comparison
    assert "none of which carries an id" in fails(c.list_contains, ctx([{"name": "n"}]), "L1",
                                                  unselected=[{"name": "n"}])


def test_a_deleted_lead_still_listed_is_reported_by_the_first_list_that_shows_it() -> None:
    """The ?name= list after a delete adds a finding only when GET by id says the lead is gone and the
    ?id= list did not already show it (one cause, one report)."""
    listed = ctx([LEAD])
    assert "must be excluded" in fails(c.list_contains, listed, id="L1", present=False, by_id=404, listed=[])
    for by_id, shown in ((200, []), (404, [LEAD])):
        with pytest.raises(c.CheckInconclusive):
            c.list_contains(listed, id="L1", present=False, by_id=by_id, listed=shown)


def test_a_filtered_page_is_judged_against_what_the_filter_alone_returns() -> None:
    alone = [LEAD]
    assert c.filtered_page(ctx([LEAD]), "L1", alone)
    assert "before the filter applies" in fails(c.filtered_page, ctx([]), "L1", alone)
    for page, first in (([{**LEAD, "id": "L2"}], alone), ([LEAD], None), ([LEAD], [LEAD, {**LEAD, "id": "L2"}])):
        with pytest.raises(c.CheckInconclusive):  # another lead: FILTER-01's; no exact filtered list to page
            c.filtered_page(ctx(page), "L1", first)


def test_a_401_or_403_where_the_apis_answer_was_expected_points_at_the_credentials() -> None:
    assert "refused the credentials sent: check --header, --user or the --oauth2-*" in fails(
        c.status_in, ctx({"code": "401"}, status=401), 201)
    assert "does not allow them this request" in fails(c.status_in, ctx(None, status=403), [200, 206])
    assert "credentials" not in fails(c.status_in, ctx(None, status=404), 200)
    assert "credentials" not in fails(c.status_in, ctx(None, status=403), 401)  # a refusal was the point


def test_a_list_shows_each_lead_whole_as_get_by_id_does() -> None:
    by_id = ctx({**LEAD, "note": [{"text": "a"}], "lastUpdate": "2026-11-26T10:00:01.250Z"})
    same = [{"id": "L0"}, {**LEAD, "note": [{"text": "a"}], "lastUpdate": "2026-11-26T10:00:00.250Z"}]
    assert c.listed_whole(by_id, same)  # lastUpdate is the server's to move between the two reads
    summary = [{k: v for k, v in LEAD.items() if k in ("id", "href", "name")}]
    assert "without creationDate, note, priority, status, statusChangeDate" in fails(c.listed_whole, by_id, summary)
    assert "other values" in fails(c.listed_whole, by_id, [{**LEAD, "note": [{"text": "b"}]}])
    for listed in ([{"id": "L9"}], None, {"items": []}):
        with pytest.raises(c.CheckInconclusive):
            c.listed_whole(by_id, listed)


def test_a_post_carrying_what_the_server_sets_is_refused_or_ignored() -> None:
    sent = {"name": "n", "id": "mine", "creationDate": "2001-01-01T08:00:00Z"}
    assert c.server_set_ignored(ctx({"code": "400"}, status=400), sent) == "refused (400)"
    assert c.server_set_ignored(ctx({**LEAD, "name": "n"}, status=201), sent)
    taken = fails(c.server_set_ignored, ctx({**LEAD, "id": "mine", "creationDate": "2001-01-01T09:00:00+01:00"},
                                            status=201), sent)
    assert "took id='mine', creationDate=" in taken  # the same instant, written otherwise, is taken too
    assert "got 500" in fails(c.server_set_ignored, ctx(None, status=500), sent)
    with pytest.raises(c.CheckInconclusive):
        c.server_set_ignored(ctx(None, status=202), sent)
