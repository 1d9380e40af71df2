"""Faults the reference server can inject in its TMF699 v5.0.0 mode: ways v5 implementations break
(views, discriminators, the opportunity, 202 Accepted, the v5 hub and events, v5 query features).

Each names the rules a v5 run must trip; ``selftest --api-version 5.0.0`` proves every one is caught.
"""

from __future__ import annotations

from .faults import Fault

FAULTS_V5: tuple[Fault, ...] = (
    # @type discriminators
    Fault("contact-medium-untyped", "Contact media are returned without their @type (EmailContactMedium...)",
          ("TMF699-SCHEMA-01",)),
    Fault("contact-medium-unknown-type", "An email contact medium is returned as @type 'EMailContactMedium'",
          ("TMF699-SCHEMA-01",)),
    Fault("party-ref-untyped", "relatedParty[].partyOrPartyRole is returned without @type (PartyRef/PartyRoleRef)",
          ("TMF699-SCHEMA-01",)),
    Fault("accepts-unknown-party-type", "POST accepts a related party whose @type the spec does not map",
          ("TMF630-VALID-06",)),
    Fault("opportunity-item-untyped", "salesOpportunityItem entries are returned without @type",
          ("TMF699-SCHEMA-01",)),
    # _FVO / _MVO / _RES views
    Fault("res-no-type", "Responses lack the mandatory @type", ("TMF699-SCHEMA-01", "TMF699-SCHEMA-02")),
    Fault("res-wrong-type", "Responses carry @type 'Lead' / 'Opportunity' instead of the resource's class",
          ("TMF699-SCHEMA-01", "TMF699-SCHEMA-02")),
    Fault("res-no-href", "Responses lack href, which the _RES view requires", ("TMF699-SCHEMA-01", "TMF630-HREF-01")),
    Fault("list-items-fvo", "List items are returned in the _FVO view, without id and href",
          ("TMF699-SCHEMA-02", "TMF699-LIST-03")),
    Fault("accepts-no-type", "POST accepts a body without @type (the _FVO view requires it)", ("TMF630-VALID-05",)),
    Fault("patch-accepts-no-type", "PATCH accepts a merge patch without @type (the _MVO view requires it)",
          ("TMF630-PATCH-17",)),
    # refused, but applied: what TMF630-PATCH-09 must still find once it sets accepted patches aside
    Fault("patch-refused-but-applied", "A merge patch without @type is refused with 400 but applied all the same "
          "(validated after it is stored)", ("TMF630-PATCH-09",)),
    Fault("v4-attribute-names", "Returns v4 names: type for salesLeadType, prospectContact for prospectContactMedium",
          ("TMF699-CREATE-04",)),
    Fault("revenue-not-array", "revenueEstimate is returned as one object, not v5's array", ("TMF699-SCHEMA-01",)),
    Fault("status-uppercase", "status is serialised in upper case ('ACKNOWLEDGED')", ("TMF699-SCHEMA-01",)),
    Fault("error-untyped", "Error bodies lack @type (v5's Error is Extensible)", ("TMF630-ERROR-01",)),
    Fault("href-v4-base", "href is built on the v4 base path /tmf-api/sales/v4", ("TMF630-HREF-02",)),
    # the opportunity and its lead
    Fault("opportunity-lead-ref-dropped", "An opportunity's salesLead references are not stored",
          ("TMF699-CREATE-04",)),
    Fault("opportunity-lead-ref-broken", "An opportunity's salesLead reference href points to no lead",
          ("TMF699-REF-01",)),
    Fault("opportunity-not-listed", "GET /salesOpportunity omits its last match", ("TMF699-LIST-03",)),
    Fault("opportunity-delete-noop", "DELETE /salesOpportunity/{id} answers 204 but deletes nothing",
          ("TMF699-DELETE-03", "TMF699-DELETE-05"), waits=True),
    Fault("opportunity-events-as-lead", "Opportunity events carry event.salesLead, not event.salesOpportunity",
          ("TMF699-EVENT-04", "TMF699-EVENT-02")),
    # status codes v5 words differently from v4
    Fault("create-200", "POST answers 200 instead of 201 (or 202)", ("TMF699-CREATE-08",)),
    Fault("patch-refuses-merge-patch", "PATCH answers 415 to application/merge-patch+json", ("TMF630-PATCH-16",)),
    Fault("delete-200", "DELETE answers 200 with a body instead of 204 (or 202)", ("TMF699-DELETE-06",)),
    # 202 Accepted
    Fault("accepted-never-created", "POST answers 202 Accepted but the resource never appears",
          ("TMF699-ASYNC-01",), waits=True),
    Fault("accepted-patch-lost", "PATCH answers 202 Accepted but the change is never applied", ("TMF699-ASYNC-01",),
          waits=True),
    Fault("accepted-delete-lost", "DELETE answers 202 Accepted but the resource is never deleted",
          ("TMF699-ASYNC-01",), waits=True),
    # the v5 hub and events
    Fault("hub-get-missing", "GET /hub/{id} answers 404 for a registered subscription", ("TMF630-HUB-05",)),
    Fault("hub-get-other-callback", "GET /hub/{id} returns another callback", ("TMF630-HUB-05",)),
    Fault("event-untyped", "Events lack the mandatory @type", ("TMF699-EVENT-02",)),
    Fault("event-no-event-id", "Events lack the mandatory eventId", ("TMF699-EVENT-02",)),
    Fault("event-v4-shape", "Events use v4's timeOcurred instead of eventTime", ("TMF699-EVENT-02",)),
    # valid against the schema: the envelope rule's own finding, which the two faults above leave to the schema
    Fault("event-time-future", "eventTime is an hour in the future", ("TMF699-EVENT-07",)),
    Fault("events-never-sent", "The hub accepts subscriptions but never sends an event", ("TMF699-EVENT-01",),
          waits=True),
    # the delete happens, its event does not: what the gate of opportunity-delete-noop (no delete, hence no
    # event owed) must not hide
    Fault("delete-event-not-sent", "DELETE deletes the resource but sends no DeleteEvent", ("TMF699-EVENT-01",),
          waits=True),
    # v5 query features and views on writes
    Fault("fields-ignored-on-post", "fields on POST is ignored: every attribute is returned", ("TMF630-FIELDS-07",)),
    Fault("fields-ignored-on-patch", "fields on PATCH is ignored: every attribute is returned",
          ("TMF630-FIELDS-08",)),
    Fault("json-patch-not-stored", "A JSON Patch answers the patched resource but stores nothing",
          ("TMF630-PATCH-18",)),
    Fault("json-patch-replaces", "A JSON Patch drops every attribute its operations do not name",
          ("TMF630-PATCH-11",)),
    Fault("fields-on-patch-stale", "fields on PATCH selects from the resource as it was before the patch",
          ("TMF630-FIELDS-05",)),
    Fault("sort-ignored", "sort is accepted but the list comes in storage order", ("TMF630-SORT-01", "TMF630-SORT-02")),
    Fault("filter-ignored", "filter (JSONPath) is accepted but ignored", ("TMF630-FILTER-06",)),
    Fault("cursor-repeats-page", "after=<cursor> answers the first page again", ("TMF630-PAGE-07",)),
    Fault("json-patch-ignored", "application/json-patch+json is accepted (200) but the operations are ignored",
          ("TMF630-PATCH-18",)),
    Fault("json-patch-query-literal", "application/json-patch-query+json treats a JSONPath path as a pointer",
          ("TMF630-PATCH-19",)),
    # create coverage and repeated creates (issue 9's checks, adopted by the v5 suite)
    Fault("create-rejects-unparsed", "POST answers 400 to a body carrying @schemaLocation or agreement "
          "(attributes its deserialiser does not know)", ("TMF699-CREATE-05",)),
    Fault("create-rejects-contact-subtypes", "POST answers 400 to a FaxContactMedium or SocialContactMedium "
          "(its @type mapping knows only email, phone and address)", ("TMF699-CREATE-05",)),
    Fault("create-upsert-by-name", "A second POST with the same name overwrites the first resource (same id)",
          ("TMF699-CREATE-06",)),
    Fault("create-replaces-same-name", "A second POST with the same name deletes the first resource and creates "
          "another", ("TMF699-CREATE-07",)),
    # paging against the unpaged list
    Fault("offset-as-page", "offset is read as a page number (offset=3&limit=2 starts at item 6)", ("TMF630-PAGE-05",)),
    Fault("offset-off-by-one", "A non-zero offset skips one item too many", ("TMF630-PAGE-05",)),
    Fault("page-total-is-page-size", "X-Total-Count on a page counts the page's items, not every match",
          ("TMF630-PAGE-06",)),
    # fields: values and composition with filters
    Fault("fields-shallow-refs", "A fields selection returns complex attributes reduced to their ids",
          ("TMF630-FIELDS-05",)),
    Fault("fields-base-type-only", "A fields selection projects @type-discriminated members as their base type "
          "(contact media lose emailAddress, phoneNumber...; party roles lose partyId, partyName)",
          ("TMF630-FIELDS-05",)),
    Fault("fields-ignores-filter", "With fields in the query, the attribute filters are ignored",
          ("TMF630-FIELDS-06",)),
    # a list selection dropping id (the list without fields keeps it): what the gate of list-items-fvo
    # (items without id everywhere) must not hide
    Fault("fields-drops-id", "A fields selection on a list drops id and href (the list without fields keeps them)",
          ("TMF630-FIELDS-01", "TMF630-FIELDS-02", "TMF630-FIELDS-04")),
    # filter exactness against look-alikes
    Fault("filter-substring", "?name=x matches every name containing x", ("TMF630-FILTER-05",)),
    Fault("filter-case-insensitive", "?name=x matches names differing in case", ("TMF630-FILTER-05",)),
    Fault("filter-prefix", "?name=x matches every name starting with x", ("TMF630-FILTER-05",)),
    # merge patch, modelled as RFC 7396 merge(before, patch)
    Fault("patch-put-semantics", "PATCH replaces the resource with the patch: only name, @type and server-set "
          "attributes survive", ("TMF630-PATCH-11",)),
    Fault("patch-moves-status-date", "Every PATCH moves statusChangeDate, not only a status change",
          ("TMF630-PATCH-11",)),
    Fault("patch-drops-polymorphism", "A PATCH loses @baseType and @schemaLocation (the _MVO mapper rebuilds "
          "the entity without them)", ("TMF630-PATCH-11",)),
    Fault("patch-replaces-nested", "A nested object in a merge patch replaces the stored object", ("TMF630-PATCH-12",)),
    Fault("patch-null-ignored", "null in a merge patch is ignored instead of removing the attribute",
          ("TMF630-PATCH-13",)),
    Fault("patch-appends-arrays", "An array in a merge patch is appended to the stored array", ("TMF630-PATCH-14",)),
    Fault("last-update-frozen", "PATCH leaves lastUpdate at the creation time", ("TMF630-PATCH-20",)),
    # value round-trips, filtering and paging as a store may do them
    Fault("html-escapes-text", "Strings are HTML-escaped when written ('&' stored as '&amp;')", ("TMF699-CREATE-04",)),
    Fault("valid-for-date-only", "validFor is stored in two DATE columns: the time of day is lost",
          ("TMF699-CREATE-04",)),
    Fault("list-summary-view", "The list (without fields) shows a few attributes of each resource",
          ("TMF699-LIST-05",)),
    Fault("filter-indexed-only", "Filters on attributes other than id, name, status, creationDate and "
          "statusChangeDate (priority, rating...) are dropped: the list is not filtered on them",
          ("TMF630-FILTER-01",)),
    Fault("offset-beyond-last-page", "An offset past the last match answers the last page again, not an empty one",
          ("TMF630-PAGE-05",)),
    Fault("page-before-filter", "offset/limit page the whole collection and the filters apply to that page",
          ("TMF630-PAGE-08",)),
    # event payloads against the API
    Fault("event-stale-lead", "Attribute- and state-change events carry the resource as it was before the change",
          ("TMF699-EVENT-08",)),
)

BY_NAME_V5 = {fault.name: fault for fault in FAULTS_V5}
