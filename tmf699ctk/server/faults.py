"""Faults the reference server can inject: realistic ways TMF699 implementations break.

Each fault names the rules a conformance run must trip when it is active; the self-check
(`tmf699ctk selftest`, tests/test_faults.py) proves the suite catches every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    rules: tuple[str, ...]  # any one of these failing counts as detection
    # the suite must wait out one of its bounds to see it (events that never come, a write that never
    # shows): a long run of little work, which the self-check runs beside its --jobs working runs
    waits: bool = False


FAULTS: tuple[Fault, ...] = (
    Fault("create-200", "POST /salesLead answers 200 instead of 201", ("TMF699-CREATE-01",)),
    Fault("create-array", "POST /salesLead returns the lead wrapped in an array",
          # CTK-JSON-01: TM Forum's N2 checks only the POST's status, then cannot find the lead's id
          ("TMF699-CREATE-02", "TMF699-CTK-03", "CTK-JSON-01")),
    Fault("create-no-href", "Leads are returned without href", ("TMF699-CREATE-03", "TMF630-HREF-01")),
    Fault("href-relative", "href is a relative path", ("TMF630-HREF-01",)),
    Fault("href-wrong-id", "href ends with another lead's id", ("TMF630-HREF-01",)),
    Fault("create-drops-optional", "POST stores only name, dropping every optional attribute",
          ("TMF699-CREATE-04",)),
    Fault("no-location", "201 Created without a Location header", ("TMF630-LOCATION-01",)),
    Fault("status-uppercase", "status is serialised in upper case ('ACKNOWLEDGED')", ("TMF699-SCHEMA-01",)),
    Fault("date-not-rfc3339", "creationDate is written as '26/11/2026 10:00'", ("TMF699-SCHEMA-01",)),
    Fault("ref-without-id", "relatedParty items are returned without id", ("TMF699-SCHEMA-01",)),
    Fault("create-not-persisted", "POST answers 201 but stores nothing",
          ("TMF699-RETRIEVE-01", "TMF699-LIST-03", "TMF630-HREF-02")),
    Fault("list-200-only-first", "The list omits its last match (an off-by-one)",
          ("TMF699-LIST-03", "TMF630-FILTER-01")),
    Fault("list-object", "The list is wrapped in an object {items: [...]}", ("TMF699-LIST-02",)),
    Fault("get-unknown-200", "GET of an unknown id answers 200 with an empty object", ("TMF699-RETRIEVE-03",)),
    Fault("ignore-fields", "fields is ignored: every attribute is returned",
          ("TMF630-FIELDS-01", "TMF630-FIELDS-02", "TMF630-FIELDS-03")),
    Fault("ignore-filters", "Attribute filters are ignored", ("TMF630-FILTER-01", "TMF630-FILTER-02")),
    Fault("ignore-limit", "limit is ignored", ("TMF630-PAGE-03",)),
    Fault("ignore-offset", "offset is ignored", ("TMF630-PAGE-04",)),
    Fault("wrong-total-count", "X-Total-Count counts every lead, not the matching ones", ("TMF630-PAGE-02",)),
    Fault("no-count-headers", "List responses carry no X-Total-Count / X-Result-Count", ("TMF630-PAGE-01",)),
    Fault("text-content-type", "JSON bodies are declared as text/plain", ("TMF630-CT-01",)),
    Fault("patch-not-persisted", "PATCH answers the patched lead but stores nothing", ("TMF630-PATCH-03",)),
    Fault("patch-stale-response", "PATCH stores the change but answers the old lead", ("TMF630-PATCH-02",)),
    Fault("patch-refuses-merge-patch", "PATCH answers 415 to application/merge-patch+json",
          ("TMF630-PATCH-01",)),
    Fault("patch-accepts-readonly", "PATCH accepts changes to id, href and creationDate", ("TMF630-PATCH-06",)),
    Fault("patch-no-enum-check", "PATCH accepts out-of-enum values", ("TMF630-PATCH-07",)),
    Fault("patch-no-type-check", "PATCH validates enums, not types: estimatedRevenue.value 'lots' is stored",
          ("TMF630-PATCH-07",)),
    Fault("patch-malformed-json-500", "A PATCH whose body is not JSON answers 500 (POST answers 400)",
          ("TMF630-PATCH-07",)),
    Fault("status-change-date-frozen", "Changing status leaves statusChangeDate unchanged",
          ("TMF630-PATCH-05",)),
    Fault("delete-200", "DELETE answers 200 with a body instead of 204", ("TMF699-DELETE-01",)),
    Fault("delete-noop", "DELETE answers 204 but deletes nothing", ("TMF699-DELETE-03", "TMF699-DELETE-05")),
    Fault("delete-unknown-204", "DELETE of an unknown id answers 204", ("TMF699-DELETE-04",)),
    Fault("delete-soft-listed", "A deleted lead is only marked deleted: gone by id and from ?id=, still listed "
          "by other filters", ("TMF699-DELETE-05",)),
    Fault("error-body-missing", "Error responses have an empty body", ("TMF630-ERROR-01",)),
    Fault("error-body-no-code", "Error bodies lack the mandatory code", ("TMF630-ERROR-01",)),
    Fault("create-no-validation", "POST accepts a body without name", ("TMF630-VALID-01",)),
    Fault("create-no-enum-check", "POST accepts an out-of-enum priority", ("TMF630-VALID-02",)),
    Fault("malformed-json-500", "Malformed JSON makes the server answer 500 (POST and PATCH)",
          ("TMF630-VALID-03", "TMF630-PATCH-07")),
    Fault("null-optional", "Unset optional attributes are returned as null (statusChangeReason: null)",
          ("TMF699-SCHEMA-01",)),
    Fault("note-as-object", "The note array is returned as a single object", ("TMF699-SCHEMA-01",)),
    Fault("schema-location-relative", "@schemaLocation is a relative path, not a URI", ("TMF699-SCHEMA-01",)),
    Fault("revenue-as-string", "estimatedRevenue.value is serialised as a string", ("TMF699-SCHEMA-01",)),
    Fault("error-code-integer", "Error.code is a number instead of a string", ("TMF630-ERROR-01",)),
    Fault("error-text-html", "Error bodies are declared as text/html", ("TMF630-CT-01",)),
    Fault("fields-drops-id", "A fields selection drops id and href", ("TMF630-FIELDS-01",)),
    Fault("fields-drops-noted", "A fields selection on a list omits the leads that carry a note (a join in "
          "the projection); the list without fields has them", ("TMF699-LIST-03", "TMF630-FIELDS-06")),
    Fault("result-count-total", "X-Result-Count reports all matches, not the items on the page",
          ("TMF630-PAGE-02",)),
    Fault("fields-none-ignored", "fields=none is accepted but every attribute is returned", ("TMF630-FIELDS-04",)),
    Fault("or-filter-literal", "name=x,y is accepted but matched literally (OR offered, not implemented)",
          ("TMF630-FILTER-03",)),
    Fault("date-ops-ignored", "creationDate.gt=... is accepted but compared as equality", ("TMF630-FILTER-04",)),
    Fault("patch-json-500", "PATCH with application/json answers 500 instead of 200 or 415",
          ("TMF630-PATCH-04",)),
    Fault("get-unknown-500", "GET of an unknown id answers 500", ("TMF699-RETRIEVE-03",)),
    Fault("patch-unknown-upsert", "PATCH of an unknown id creates the lead", ("TMF630-PATCH-08",)),
    Fault("create-no-status", "POST does not set the initial status", ("TMF699-CREATE-03",)),
    Fault("type-not-validated", "POST accepts estimatedRevenue.value as a string", ("TMF630-VALID-04",)),
    Fault("malformed-json-accepted", "POST with a malformed body creates an 'unnamed lead'", ("TMF630-VALID-03",)),
    Fault("location-collection", "Location points to the collection, not the new lead", ("TMF630-LOCATION-01",)),
    # create coverage: every attribute of SalesLead_Create stored and returned (issue 9.1)
    Fault("create-drops-polymorphism", "@type, @baseType and @schemaLocation are not stored", ("TMF699-CREATE-04",)),
    Fault("create-drops-refs", "product, productOffering, productSpecification, marketSegment, marketingCampaign "
          "and salesOpportunity are not stored", ("TMF699-CREATE-04",)),
    Fault("ref-drops-referred-type", "@referredType is dropped from channel, category and the other references",
          ("TMF699-CREATE-04",)),
    Fault("create-echo-not-stored", "The 201 answer echoes the request, but note and validFor are not stored",
          ("TMF699-RETRIEVE-02",)),
    Fault("date-offset-lost", "referredDate keeps its wall-clock time but gets another offset (another instant)",
          ("TMF699-CREATE-04",)),
    # value round-trips: what a store's columns make of the values written
    Fault("unicode-to-ascii", "Non-ASCII characters are stored as '?' (an ASCII column)", ("TMF699-CREATE-04",)),
    Fault("html-escapes-text", "Strings are HTML-escaped when written ('&' stored as '&amp;')", ("TMF699-CREATE-04",)),
    Fault("valid-for-date-only", "validFor is stored in two DATE columns: the time of day is lost",
          ("TMF699-CREATE-04",)),
    Fault("create-honours-server-set", "POST takes id, creationDate and statusChangeDate from the body "
          "(a generic mapper)", ("TMF630-VALID-07",)),
    Fault("create-rejects-unparsed", "POST answers 400 to a body carrying @schemaLocation or prospectContact "
          "(attributes it cannot parse)", ("TMF699-CREATE-05",)),
    # plausibility of server-set values (issue 9.9)
    Fault("create-upsert-by-name", "A second POST with the same name overwrites the first lead (same id)",
          ("TMF699-CREATE-06",)),
    Fault("create-replaces-same-name", "A second POST with the same name deletes the first lead and creates another",
          ("TMF699-CREATE-07",)),
    Fault("creation-date-future", "creationDate and statusChangeDate are local time labelled as UTC (an hour ahead)",
          ("TMF699-DATE-01",)),
    Fault("status-date-day-only", "statusChangeDate on creation is the day at midnight (before creationDate)",
          ("TMF699-DATE-02",)),
    Fault("location-internal-host", "Location names the internal host (http://sales-backend.internal:8080/...)",
          ("TMF630-LOCATION-02",)),
    # merge patch, modelled (issue 9.2)
    Fault("patch-replaces-nested", "A nested object in a merge patch replaces the stored object", ("TMF630-PATCH-12",)),
    Fault("patch-null-ignored", "null in a merge patch is ignored instead of removing the attribute",
          ("TMF630-PATCH-13",)),
    Fault("patch-appends-arrays", "An array in a merge patch is appended to the stored array", ("TMF630-PATCH-14",)),
    Fault("patch-put-semantics", "PATCH replaces the lead with the patch: attributes it does not name are lost",
          ("TMF630-PATCH-11",)),
    Fault("patch-moves-status-date", "Every PATCH moves statusChangeDate, not only a status change",
          ("TMF630-PATCH-11",)),
    Fault("patch-response-differs", "The PATCH answer carries another statusChangeDate than the one stored",
          ("TMF630-PATCH-15",)),
    # fields (issue 9.4)
    Fault("fields-shallow-refs", "A fields selection returns complex attributes reduced to their ids",
          ("TMF630-FIELDS-05",)),
    Fault("fields-ignores-filter", "With fields in the query, the attribute filters are ignored",
          ("TMF630-FIELDS-06",)),
    # filtering (issue 9.5)
    Fault("filter-substring", "?name=x matches every name containing x", ("TMF630-FILTER-05",)),
    Fault("filter-case-insensitive", "?name=x matches names differing in case", ("TMF630-FILTER-05",)),
    Fault("filter-prefix", "?name=x matches every name starting with x", ("TMF630-FILTER-05",)),
    Fault("filter-indexed-only", "Filters on attributes other than id, name, status, creationDate and "
          "statusChangeDate (priority, rating...) are dropped: the list is not filtered on them",
          ("TMF630-FILTER-01",)),
    # paging (issue 9.6)
    Fault("offset-as-page", "offset is read as a page number (offset=3&limit=2 starts at item 6)", ("TMF630-PAGE-05",)),
    Fault("offset-off-by-one", "A non-zero offset skips one item too many", ("TMF630-PAGE-05",)),
    Fault("offset-beyond-last-page", "An offset past the last match answers the last page again, not an empty one",
          ("TMF630-PAGE-05",)),
    Fault("page-before-filter", "offset/limit page the whole collection and the filters apply to that page",
          ("TMF630-PAGE-08",)),
    Fault("page-total-is-page-size", "X-Total-Count on a page counts the page's items, not every match",
          ("TMF630-PAGE-06",)),
    Fault("list-summary-view", "The list (without fields) shows a few attributes of each lead, not the lead",
          ("TMF699-LIST-05",)),
    Fault("list-duplicates", "A lead with several notes is listed once per note (a join without DISTINCT)",
          ("TMF699-LIST-04",)),
    # sorting (issue 9.7)
    Fault("sort-ignored", "sort is accepted and ignored", ("TMF630-SORT-01", "TMF630-SORT-02")),
    Fault("sort-descending-ignored", "sort=-creationDate sorts ascending (the '-' is ignored)", ("TMF630-SORT-02",)),
    # official-profile parity (issue 9.12): the official kit passes this, the full profile does not
    Fault("href-differs-on-post", "The POST answer's href has a trailing slash that later reads do not",
          ("TMF699-RETRIEVE-02",)),
    # hub and notifications
    Fault("events-never-sent", "The hub accepts subscriptions but never sends an event", ("TMF699-EVENT-01",),
          waits=True),
    Fault("event-wrong-type", "Events carry 'LeadCreateEvent' instead of 'SalesLeadCreateEvent'",
          ("TMF699-EVENT-03",), waits=True),
    Fault("event-no-payload", "Events arrive without event.salesLead", ("TMF699-EVENT-04",)),
    Fault("event-bad-time", "eventTime is '26.11.2026 10:00', not RFC 3339", ("TMF699-EVENT-02",)),
    Fault("events-after-unsubscribe", "DELETE /hub/{id} answers 204 but events keep coming", ("TMF699-EVENT-05",)),
    Fault("hub-query-ignored", "A subscription's query=eventType=... is accepted and ignored", ("TMF699-EVENT-06",)),
    Fault("hub-no-id", "The registration response lacks the subscription id", ("TMF630-HUB-02",)),
    Fault("hub-delete-200", "DELETE /hub/{id} answers 200 with a body", ("TMF630-HUB-03",)),
    Fault("hub-delete-unknown-204", "DELETE /hub/{unknown id} answers 204", ("TMF630-HUB-04",)),
    Fault("event-no-id", "Events carry no eventId", ("TMF699-EVENT-07",)),
    Fault("event-time-future", "eventTime is an hour in the future", ("TMF699-EVENT-07",)),
    Fault("event-stale-lead", "Attribute- and state-change events carry the lead as it was before the change",
          ("TMF699-EVENT-08",)),
)

BY_NAME = {fault.name: fault for fault in FAULTS}


def parse_faults(spec: str | None) -> frozenset[str]:
    """``a,b`` -> {a, b}; unknown names raise ValueError listing the known ones."""
    if not spec:
        return frozenset()
    names = {n.strip() for n in spec.split(",") if n.strip()}
    unknown = sorted(names - BY_NAME.keys())
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; see `tmf699ctk serve --list-faults`")
    return frozenset(names)
