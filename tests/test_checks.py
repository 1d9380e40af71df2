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


def test_paging() -> None:
    assert "limit=1 but 2 items" in fails(c.page_size, ctx([LEAD, LEAD]), 1)
    assert "offset is ignored" in fails(c.page_disjoint, ctx([LEAD]), [LEAD])
    assert c.page_disjoint(ctx([{**LEAD, "id": "L2"}]), [LEAD]) == "pages are disjoint"


def test_changed_later() -> None:
    before = LEAD["statusChangeDate"]
    assert c.changed_later(ctx({**LEAD, "statusChangeDate": "2026-11-26T10:00:01Z"}), "statusChangeDate", before)
    assert "stayed" in fails(c.changed_later, ctx({**LEAD, "statusChangeDate": "2026-11-26T11:00:00+01:00"}),
                             "statusChangeDate", before)
    with pytest.raises(c.CheckInconclusive, match="1-second resolution"):
        c.changed_later(ctx({**LEAD, "statusChangeDate": "2026-11-26T10:00:00Z"}), "statusChangeDate",
                        "2026-11-26T10:00:00Z")
    assert "backwards" in fails(c.changed_later, ctx({**LEAD, "statusChangeDate": "2020-01-01T00:00:00Z"}),
                                "statusChangeDate", before)


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
