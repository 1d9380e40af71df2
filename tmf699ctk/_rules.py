"""The rule catalogue: every conformance rule the kit applies, in one place.

Each rule has a stable ID (never reused), a level, a family (for the report), a title, a
one-line remediation hint, the check function that evaluates it and default arguments that a
scenario may override. Scenarios refer to rules by ID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from . import _checks as c
from ._results import Level
from ._settings import Profile

M, OPT, R = Level.MANDATORY, Level.OPTIONAL, Level.RECOMMENDED
SERVER_SET = ["id", "href", "creationDate", "name", "status", "statusChangeDate"]


class Gate(StrEnum):
    """Whether a failure of this rule stops the step's other checks (so the cause is reported
    once, not a cascade of its consequences)."""

    NONE = "none"
    STATUS = "status"  # a wrong status: a wrong 2xx still carries the resource to build on
    SHAPE = "shape"  # a body of the wrong shape: nothing to build later steps on
    CONTENT = "content"  # the resource is not what the step's other checks assume: they would echo it


class Context(StrEnum):
    """What a rule examines."""

    RESPONSE = "response"  # an HTTP response to the kit's request
    EVENT = "event"  # a notification the server POSTed to the kit's listener
    ANY = "any"


class LevelPolicy(StrEnum):
    FIXED = "fixed"
    NOTIFICATIONS = "notifications"  # mandatory under --notifications mandatory
    # stricter than TM Forum's own kit: a warning, labelled so, under --profile official (whose
    # verdict must be the official kit's), the rule's level elsewhere
    BEYOND_OFFICIAL = "beyond-official"


BEYOND_OFFICIAL_LABEL = "beyond the official kit"


FULL_ONLY = frozenset({Profile.FULL})
V4, V5 = frozenset({"4.0.0"}), frozenset({"5.0.0"})
ALL_VERSIONS = V4 | V5
# a notification rule: examines an event; its level follows --notifications
EVENT_RULE: dict[str, Any] = {"context": Context.EVENT, "level_policy": LevelPolicy.NOTIFICATIONS}


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    family: str
    title: str
    hint: str
    check: Callable[..., str]
    defaults: dict[str, Any] = field(default_factory=dict)
    gate: Gate = Gate.NONE
    context: Context = Context.RESPONSE
    level_policy: LevelPolicy = LevelPolicy.FIXED
    auto_in: frozenset[Profile] = frozenset()  # profiles applying it to every response with a body
    versions: frozenset[str] = ALL_VERSIONS  # the TMF699 versions whose scenarios may use it

    def applies_to(self, version: str) -> bool:
        return version in self.versions


RULES: tuple[Rule, ...] = (
    # create
    Rule("TMF699-CREATE-01", M, "create", "POST /salesLead answers 201 Created",
         "Return 201 with the created SalesLead for a valid SalesLead_Create body.",
         c.status_in, {"expected": 201}, gate=Gate.STATUS),
    Rule("TMF699-CREATE-02", M, "create", "The created lead is returned as a JSON object",
         "Return the created resource itself, not an array or a wrapper.", c.is_object, gate=Gate.SHAPE),
    Rule("TMF699-CREATE-03", M, "create", "Server-set attributes are present on the created lead",
         "Set id, href, creationDate, status and statusChangeDate on creation and return them with name.",
         c.has_attributes, {"attributes": SERVER_SET, "filled": True}),
    Rule("TMF699-CREATE-04", M, "create", "Every posted attribute is stored and echoed with its value",
         "Persist every attribute of SalesLead_Create and return it unchanged (ids, nested objects, arrays).",
         c.echoes),
    Rule("TMF630-HREF-01", M, "create", "href is an absolute URL ending with /salesLead/{id}",
         "Build href from the public base URL and the resource id.", c.href_consistent),
    Rule("TMF630-HREF-02", M, "create", "GET on href returns the same lead",
         "Make href dereferenceable: a GET on it must return the resource with that id.", c.equals_resource),
    Rule("TMF630-LOCATION-01", R, "create", "201 Created carries a Location header for the new lead",
         "Add 'Location: <href of the new resource>' to 201 responses (TMF630 Part 1).", c.location_header),
    Rule("TMF630-LOCATION-02", R, "create", "Location resolves inside the base URL to the new lead's href",
         "Build Location from the public base URL (not an internal host or path): it must equal the lead's href.",
         c.location_in_base),
    Rule("TMF699-CREATE-05", M, "create", "Every attribute of SalesLead_Create (v5: the _FVO view) is accepted",
         "Accept (and store) every property SalesLead_Create (v5: SalesLead_FVO, SalesOpportunity_FVO) defines, "
         "including @type, @baseType, @schemaLocation, every *Ref and every @type subtype; the failure names the "
         "attributes refused.", c.accepted),
    Rule("TMF699-CREATE-06", M, "create", "A second POST of the same body creates another lead or answers 409",
         "Never answer a repeated POST with the first lead (or overwrite it): create a new one, or refuse with 409.",
         c.second_create, gate=Gate.STATUS),
    Rule("TMF699-CREATE-07", M, "create", "A repeated POST leaves the first lead as it was",
         "Do not merge or upsert on create: the first lead keeps its id and every value.",
         c.unchanged_by_duplicate),
    # plausibility of server-set values
    Rule("TMF699-DATE-01", M, "plausibility", "Server-set date-times are not in the future",
         "Stamp creationDate and statusChangeDate from a synchronised clock, in UTC or with the right offset "
         "(the allowance is --clock-skew, 300 s by default).",
         c.not_in_future, {"attributes": ["creationDate", "statusChangeDate"]}),
    Rule("TMF699-DATE-02", M, "plausibility", "statusChangeDate is not before creationDate",
         "Set statusChangeDate to the time of creation or of the latest status change, never earlier.",
         c.not_before),
    # schema and media type
    Rule("TMF699-SCHEMA-01", M, "schema", "A SalesLead body is valid against the TMF699 SalesLead schema",
         "Fix types, formats (RFC 3339 date-times, URIs), enum values and required *Ref ids.",
         c.schema, {"schema": "SalesLead"}),
    Rule("TMF699-SCHEMA-02", M, "schema", "Every list item is valid against the SalesLead schema",
         "Every item of a list must be a valid SalesLead.", c.schema, {"schema": "SalesLead", "items": True}),
    Rule("TMF630-ERROR-01", M, "errors", "An error response carries a valid Error body (code, reason)",
         "Answer errors with a JSON Error object holding at least string 'code' and 'reason'.", c.error_body),
    Rule("TMF630-CT-01", M, "content-type", "A JSON body is declared with a JSON media type",
         "Send 'Content-Type: application/json;charset=utf-8' with JSON bodies.", c.json_content_type,
         auto_in=FULL_ONLY),
    # retrieve
    Rule("TMF699-RETRIEVE-01", M, "retrieve", "GET /salesLead/{id} answers 200",
         "Serve every stored lead by its id.", c.status_in, {"expected": 200}, gate=Gate.STATUS),
    Rule("TMF699-RETRIEVE-02", M, "retrieve", "GET /salesLead/{id} returns the lead as created",
         "Return the stored lead with the values it was created with.", c.equals_resource),
    Rule("TMF699-RETRIEVE-03", M, "retrieve", "GET of an unknown id answers 404",
         "Answer 404 Not Found (with an Error body) for an id that does not exist.",
         c.status_in, {"expected": 404}, gate=Gate.STATUS),
    # list and pagination
    Rule("TMF699-LIST-01", M, "list", "GET /salesLead answers 200 (or 206 for a partial page)",
         "Answer list requests with 200 (complete) or 206 (partial page).",
         c.status_in, {"expected": [200, 206]}, gate=Gate.STATUS),
    Rule("TMF699-LIST-02", M, "list", "The list body is a JSON array", "Return a bare JSON array of SalesLead.",
         c.is_array, gate=Gate.SHAPE),
    Rule("TMF699-LIST-03", M, "list", "A newly created lead appears in the list",
         "List every stored lead (subject to filters and paging).", c.list_contains),
    Rule("TMF699-LIST-04", M, "list", "No lead appears twice in a list",
         "Return each matching lead once (a join on notes or parties must not repeat the lead).", c.unique_ids),
    Rule("TMF699-LIST-05", M, "list", "A list shows each lead whole, as GET by id does",
         "Without fields, return every attribute of each listed resource (no summary view).", c.listed_whole),
    Rule("TMF630-PAGE-01", R, "pagination", "List responses carry X-Total-Count and X-Result-Count",
         "Send X-Total-Count (matching items) and X-Result-Count (items in this response).",
         c.count_headers_present),
    Rule("TMF630-PAGE-02", M, "pagination", "X-Result-Count and X-Total-Count agree with the body",
         "X-Result-Count must equal the number of items returned; X-Total-Count the number matching.",
         c.count_headers_consistent),
    Rule("TMF630-PAGE-03", M, "pagination", "limit bounds the number of items returned",
         "Return at most `limit` items.", c.page_size),
    Rule("TMF630-PAGE-04", M, "pagination", "offset moves to the next page",
         "Skip the first `offset` matching items.", c.page_disjoint),
    Rule("TMF630-PAGE-05", M, "pagination", "Each page is the matching slice of the unpaged list",
         "offset counts items (not pages): ?offset=o&limit=n returns items o..o+n-1 of the unpaged list, "
         "in the same order.", c.page_slice),
    Rule("TMF630-PAGE-06", M, "pagination", "A page's X-Total-Count equals the unpaged total",
         "X-Total-Count counts every match, not the items of the page.", c.page_total),
    Rule("TMF630-PAGE-08", M, "pagination", "offset and limit page the filtered list",
         "Apply the filters first, then offset and limit to their matches (not to the whole collection).",
         c.filtered_page),
    # sorting (optional feature)
    Rule("TMF630-SORT-01", OPT, "sorting", "sort=<attribute> orders the list ascending",
         "Apply sort=<attribute>, or answer 400/501 to declare sorting unsupported.", c.sorted_by),
    Rule("TMF630-SORT-02", OPT, "sorting", "sort=-<attribute> orders the list descending",
         "A leading '-' reverses the order of that sort key.", c.sorted_by, {"descending": True}),
    # fields selection
    Rule("TMF630-FIELDS-01", M, "fields", "fields=<attr> on a list returns only that attribute (+id, href)",
         "Apply `fields` to list items: keep the requested first-level attributes, id and href.",
         c.fields_only, {"items": True}),
    Rule("TMF630-FIELDS-02", M, "fields", "fields=<a>,<b> on a list returns only those attributes (+id, href)",
         "Split `fields` on commas and keep every requested attribute.", c.fields_only, {"items": True}),
    Rule("TMF630-FIELDS-03", M, "fields", "fields on GET /salesLead/{id} returns only those attributes",
         "Apply `fields` to a single-resource GET as well.", c.fields_only),
    Rule("TMF630-FIELDS-04", OPT, "fields", "fields=none returns only id and href",
         "Support fields=none (TMF630) or answer 400/501 to declare it unsupported.",
         c.fields_only, {"fields": ["none"], "items": True}),
    Rule("TMF630-FIELDS-05", M, "fields", "Selected attributes carry the full lead's values, complex ones intact",
         "Project whole attributes: a selected object or array comes back as the full lead has it.",
         c.fields_values),
    Rule("TMF630-FIELDS-06", M, "fields", "fields with a filter returns the filtered leads with only those fields",
         "Apply the filters and the selection together: the same leads as the filter alone, projected.",
         c.fields_filtered),
    # filtering
    Rule("TMF630-FILTER-01", M, "filtering", "?<attribute>=<value> returns exactly the matching leads",
         "Filter lists on every first-level attribute (id, name, status, dates, priority...).",
         c.filtered),
    Rule("TMF630-FILTER-02", M, "filtering", "Two attribute filters combine with AND",
         "Apply every query filter; a lead must satisfy all of them.", c.filtered),
    Rule("TMF630-FILTER-03", OPT, "filtering", "?<attribute>=<x>,<y> returns leads matching either value (OR)",
         "Treat comma-separated filter values as OR, or answer 400/501 if not supported.", c.filtered),
    Rule("TMF630-FILTER-04", OPT, "filtering", "Date operators .gt/.lt filter on date-time attributes",
         "Support creationDate.gt / .lt comparisons, or answer 400/501 if not supported.", c.filtered),
    Rule("TMF630-FILTER-05", M, "filtering",
         "An equality filter matches exactly (no substring, prefix or case-blind match)",
         "Compare ?attr=value for equality: a lead whose value contains it, differs in case or is a prefix of it "
         "does not match.", c.filtered_exact),
    # update
    Rule("TMF630-PATCH-01", M, "update", "PATCH with application/merge-patch+json answers 200",
         "Accept JSON Merge Patch (RFC 7396) on PATCH /salesLead/{id} and return the updated lead.",
         c.status_in, {"expected": 200}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-02", M, "update", "The PATCH response shows the change, as merge(before, patch)",
         "Return the lead as it is after the patch (RFC 7396 applied to the stored lead).", c.merge_applied),
    Rule("TMF630-PATCH-03", M, "update", "The change persists (a later GET shows merge(before, patch))",
         "Store the merged lead.", c.merge_applied, gate=Gate.CONTENT),
    Rule("TMF630-PATCH-04", OPT, "update", "PATCH with application/json is accepted as merge patch",
         "Accept application/json as merge patch, or answer 415 to declare it unsupported.",
         c.status_in, {"expected": 200}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-05", M, "update", "Changing status moves statusChangeDate",
         "Set statusChangeDate to the time of every status change.", c.changed_later,
         {"attribute": "statusChangeDate"}),
    Rule("TMF630-PATCH-06", M, "update", "Patching a read-only attribute (id, href, creationDate) answers 400",
         "Refuse PATCH bodies that touch id, href or creationDate with 400 and an Error.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-07", M, "update", "A PATCH outside the schema (enum, type, not JSON) answers 400",
         "Validate PATCH bodies against SalesLead_Update (enums, types) and answer 400, also to a body that "
         "is not JSON.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-08", M, "update", "PATCH of an unknown id answers 404",
         "Answer 404 for PATCH on an id that does not exist.", c.status_in, {"expected": 404}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-09", M, "update", "A refused PATCH leaves the lead unchanged",
         "Validate the whole patch before applying any of it.", c.unchanged_by_refused),
    Rule("TMF630-PATCH-10", M, "update", "A valid PATCH (in the media type the server accepts) answers 200",
         "Apply valid merge patches and answer 200 with the updated lead.",
         c.status_in, {"expected": 200}, gate=Gate.STATUS),
    Rule("TMF630-PATCH-11", M, "update", "Attributes a PATCH does not name are left unchanged",
         "Merge, do not replace: id, href, creationDate and every attribute absent from the patch keep their "
         "values; statusChangeDate moves only with status (v5's lastUpdate with every write).", c.merge_untouched),
    Rule("TMF630-PATCH-12", M, "update", "A nested object in a merge patch is merged, not replaced",
         "RFC 7396: {\"channel\": {\"name\": \"x\"}} changes channel.name and keeps channel's other members.",
         c.merge_applied, {"only": "objects"}),
    Rule("TMF630-PATCH-13", M, "update", "null in a merge patch removes the attribute",
         "RFC 7396: a member set to null is removed (at any depth), not stored as null or ignored.",
         c.merge_applied, {"only": "nulls"}),
    Rule("TMF630-PATCH-14", M, "update", "An array in a merge patch replaces the array whole",
         "RFC 7396: an array value replaces the stored array; it is not appended or merged item by item.",
         c.merge_applied, {"only": "arrays"}),
    Rule("TMF630-PATCH-15", M, "update", "The PATCH response is what a following GET returns",
         "Answer PATCH with the lead as stored (the same statusChangeDate and computed values as a GET).",
         c.same_as_response),
    # create validation
    Rule("TMF630-VALID-01", M, "errors", "POST without the mandatory name answers 400",
         "Validate SalesLead_Create: `name` is required.", c.status_in, {"expected": 400}, gate=Gate.STATUS),
    Rule("TMF630-VALID-02", M, "errors", "POST with an out-of-enum priority answers 400",
         "Validate enum values (priority: low, medium, high).", c.status_in, {"expected": 400}, gate=Gate.STATUS),
    Rule("TMF630-VALID-03", M, "errors", "POST with malformed JSON answers 400",
         "Answer 400 with an Error body when the request body is not valid JSON.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS),
    Rule("TMF630-VALID-07", M, "errors", "POST never takes the attributes the server sets",
         "Refuse (400) or ignore id, href, creationDate, status and statusChangeDate in a POST body: the server "
         "sets them.", c.server_set_ignored),
    Rule("TMF630-VALID-04", M, "errors", "POST with a wrongly typed attribute answers 400",
         "Validate attribute types (e.g. estimatedRevenue.value must be a number).",
         c.status_in, {"expected": 400}, gate=Gate.STATUS),
    # delete
    Rule("TMF699-DELETE-01", M, "delete", "DELETE /salesLead/{id} answers 204", "Answer 204 No Content.",
         c.status_in, {"expected": 204}, gate=Gate.STATUS),
    Rule("TMF699-DELETE-02", M, "delete", "A 204 response has no body", "Send no body with 204.", c.no_body),
    Rule("TMF699-DELETE-03", M, "delete", "A deleted lead is gone (GET answers 404)",
         "Remove the lead: later GETs must answer 404.", c.status_in, {"expected": 404}, gate=Gate.STATUS),
    Rule("TMF699-DELETE-04", M, "delete", "DELETE of an unknown id answers 404",
         "Answer 404 for DELETE on an id that does not exist.", c.status_in, {"expected": 404}, gate=Gate.STATUS),
    Rule("TMF699-DELETE-05", M, "delete", "A deleted lead is no longer listed",
         "Remove deleted leads from list results.", c.list_contains, {"present": False}),
    # hub and notifications: the hub is an optional feature; event delivery levels follow
    # --notifications (optional: arrival only warns, a malformed event fails; mandatory: all mandatory)
    Rule("TMF630-HUB-01", OPT, "notifications", "POST /hub registers a listener (201)",
         "Offer POST /hub (EventSubscriptionInput) answering 201, or 404/405/501 if there is no hub.",
         c.status_in, {"expected": 201}, gate=Gate.STATUS),
    Rule("TMF630-HUB-02", OPT, "notifications", "The registration is an EventSubscription with id and the callback",
         "Return the created subscription: id, callback as registered, query.", c.subscription_valid),
    Rule("TMF630-HUB-03", OPT, "notifications", "DELETE /hub/{id} answers 204",
         "Answer 204 No Content when a subscription is removed.", c.status_in, {"expected": 204}, gate=Gate.STATUS),
    Rule("TMF630-HUB-04", OPT, "notifications", "DELETE /hub/{unknown id} answers 404",
         "Answer 404 for a subscription that does not exist.", c.status_in, {"expected": 404}, gate=Gate.STATUS),
    Rule("TMF699-EVENT-01", R, "notifications", "The notification arrives within the event timeout",
         "POST each event to {callback}/listener/<eventName> promptly (mandatory with --notifications mandatory).",
         c.event_arrived, **EVENT_RULE),
    Rule("TMF699-EVENT-02", OPT, "notifications", "The notification is valid against its event schema",
         "Send eventId, eventTime (RFC 3339), eventType and event.salesLead as the event schema defines.",
         c.schema, **EVENT_RULE),
    Rule("TMF699-EVENT-03", OPT, "notifications", "The notification has the expected eventType",
         "Use SalesLeadCreateEvent, SalesLeadAttributeValueChangeEvent, SalesLeadStateChangeEvent, "
         "SalesLeadDeleteEvent.", c.event_type_is, **EVENT_RULE),
    Rule("TMF699-EVENT-04", OPT, "notifications", "The notification carries the lead (event.salesLead.id)",
         "Put the affected lead in event.salesLead.", c.event_about, **EVENT_RULE),
    Rule("TMF699-EVENT-05", OPT, "notifications", "No notification arrives after unsubscribing",
         "Stop delivering to a subscription once DELETE /hub/{id} succeeded.", c.unexpected_event, **EVENT_RULE),
    Rule("TMF699-EVENT-06", OPT, "notifications", "A hub query limits the event types delivered",
         "Honour query=eventType=... on registration, or refuse such a query with 400.",
         c.unexpected_event, **EVENT_RULE),
    Rule("TMF699-EVENT-07", OPT, "notifications", "The notification has an eventId and an eventTime not in the future",
         "Give every event a unique eventId and the time it happened (allowance: --clock-skew).",
         c.event_envelope, **EVENT_RULE),
    Rule("TMF699-EVENT-08", OPT, "notifications", "The notification's lead carries the API's values at that moment",
         "Send the lead (v5: the lead or opportunity) as the API shows it after the change (it may carry fewer "
         "attributes, none different).",
         c.event_lead_matches, **EVENT_RULE),
    # generic assertions for scenarios users write themselves; the runner also fails CTK-JSON-01 or
    # CTK-HEADER-01 when an answer lacks what later steps need and nothing else failed before
    Rule("CTK-STATUS-01", M, "custom", "The response status is one of those expected",
         "See the scenario's expectation.", c.status_in, gate=Gate.STATUS),
    Rule("CTK-JSON-01", M, "custom", "A JSON path assertion on the body holds",
         "See the scenario's expectation.", c.json_path, context=Context.ANY),
    Rule("CTK-HEADER-01", M, "custom", "A response header assertion holds",
         "See the scenario's expectation.", c.header),
    # official kit (TM Forum TMF699 v4.0.0 CTK), reproduced with real assertions
    Rule("TMF699-CTK-01", M, "official", "Instance has all mandatory attributes (official kit)",
         "Return id, href, creationDate, name, status and statusChangeDate on every lead.",
         c.has_attributes, {"attributes": SERVER_SET}),
    Rule("TMF699-CTK-02", M, "official", "id, href, creationDate, name, statusChangeDate are strings (official kit)",
         "Serialise these attributes as JSON strings.", c.string_attributes,
         {"attributes": ["id", "href", "creationDate", "name", "statusChangeDate"]}),
    Rule("TMF699-CTK-03", M, "official", "A single lead is not an array (official kit)",
         "Return the resource as an object.", c.is_object, gate=Gate.SHAPE),
    Rule("TMF699-CTK-04", M, "official", "Attribute values equal those of the created lead (official kit)",
         "Return the same values on every read of a lead. The official kit's \"<attr> is <value>\" tests assert "
         "nothing: under --profile official a difference is a warning.", c.values_equal,
         {"attributes": SERVER_SET}, level_policy=LevelPolicy.BEYOND_OFFICIAL),
    Rule("TMF699-CTK-05", M, "official", "The created lead carries each posted value (official kit)",
         "Return the posted values in the 201 response.", c.values_equal),
)

# v4 rules whose meaning changed in v5 (v5 allows 202 Accepted, has no official kit): v5 has its own IDs
_V4_ONLY = frozenset({"TMF699-CREATE-01", "TMF699-DELETE-01", "TMF630-PATCH-01", "TMF630-PATCH-10",
                      "TMF699-CTK-01", "TMF699-CTK-02", "TMF699-CTK-03", "TMF699-CTK-04", "TMF699-CTK-05"})
# TMF699 v5.0.0: what v5 adds or words differently. Every other rule keeps its ID and meaning; the
# v5 scenarios pass the resource and its schema (SalesLead_RES, SalesOpportunity_RES) as arguments.
V5_RULES: tuple[Rule, ...] = (
    Rule("TMF699-CREATE-08", M, "create", "POST answers 201 Created, or 202 Accepted and the resource appears",
         "Return 201 with the created resource; 202 only for a creation completed later (the kit polls for it).",
         c.status_in, {"expected": [201, 202]}, gate=Gate.STATUS, versions=V5),
    Rule("TMF699-DELETE-06", M, "delete", "DELETE answers 204 No Content, or 202 Accepted and the resource goes",
         "Answer 204; 202 only for a deletion completed later (the kit polls until GET answers 404).",
         c.status_in, {"expected": [202, 204]}, gate=Gate.STATUS, versions=V5),
    Rule("TMF630-PATCH-16", M, "update", "PATCH with application/merge-patch+json answers 200 (or 202 Accepted)",
         "Accept JSON Merge Patch (a _MVO body) and return the updated resource; 202 if applied later.",
         c.status_in, {"expected": [200, 202]}, gate=Gate.STATUS, versions=V5),
    Rule("TMF699-ASYNC-01", M, "async", "A 202 Accepted write takes effect within the polling bound",
         "After 202 Accepted the resource must appear (POST), change (PATCH) or disappear (DELETE) promptly; "
         "give a Location header on 202 to a created resource.", c.took_effect, versions=V5),
    Rule("TMF630-VALID-05", M, "errors", "POST without the mandatory @type answers 400",
         "Validate the _FVO view: @type is required on every v5 request body.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS, versions=V5),
    Rule("TMF630-VALID-06", M, "errors", "POST with a polymorphic attribute of unknown @type answers 400",
         "Dispatch polymorphic attributes on @type (discriminator) and refuse subtypes the spec does not map.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS, versions=V5),
    Rule("TMF630-PATCH-17", M, "update", "PATCH without the mandatory @type answers 400",
         "Validate the _MVO view: @type is required on merge-patch bodies too.",
         c.status_in, {"expected": 400}, gate=Gate.STATUS, versions=V5),
    Rule("TMF630-PATCH-18", OPT, "update", "PATCH with application/json-patch+json applies the operations",
         "Apply RFC 6902 operations and return the patched resource, or answer 415 if JSON Patch is not offered.",
         c.echoes, versions=V5),
    Rule("TMF630-PATCH-19", OPT, "update", "PATCH with application/json-patch-query+json patches the selected items",
         "Resolve JSONPath paths to the matching elements and patch each, or answer 415 if not offered.",
         c.json_path, versions=V5),
    Rule("TMF630-FIELDS-07", M, "fields", "fields on POST returns only the selected attributes (+id, href)",
         "Apply `fields` to the representation returned by POST (v5).", c.fields_only, versions=V5),
    Rule("TMF630-FIELDS-08", M, "fields", "fields on PATCH returns only the selected attributes (+id, href)",
         "Apply `fields` to the representation returned by PATCH (v5).", c.fields_only, versions=V5),
    Rule("TMF630-PATCH-20", M, "update", "A PATCH moves lastUpdate",
         "Set lastUpdate to the time of every change the resource takes (v5).", c.updated_later, versions=V5),
    Rule("TMF630-PAGE-07", OPT, "pagination", "after=<cursor> from the Link header returns the next page",
         "Return the next page for an `after` cursor (announced in a Link rel=next header), disjoint from the first.",
         c.page_disjoint, versions=V5),
    Rule("TMF630-FILTER-06", OPT, "filtering", "filter=<JSONPath> returns exactly the matching resources",
         "Select list items with the RFC 9535 JSONPath `filter`, or answer 400/501 if not offered.",
         c.filtered, versions=V5),
    Rule("TMF630-HUB-05", OPT, "notifications", "GET /hub/{id} returns the registered subscription",
         "Serve GET /hub/{id} (v5): 200 with the Hub, its id and callback as registered.",
         c.subscription_valid, versions=V5),
    Rule("TMF699-REF-01", M, "references", "An opportunity's salesLead reference resolves to that lead",
         "Store SalesLeadRef items as sent; their href must serve the referenced lead.",
         c.reference_resolves, versions=V5),
)

RULES = tuple(replace(r, versions=V4) if r.id in _V4_ONLY else r for r in RULES) + V5_RULES
# the rule the runner judges a 202 Accepted answer's polling with (a step marked `accepted:`)
ACCEPTED_RULE = "TMF699-ASYNC-01"
# the rule that reports a write answered 2xx that did not take effect, by what the write promised
# (`accepted:`): named when an event awaited after such a write is not owed
EFFECT_RULES = {"appears": "TMF699-RETRIEVE-01", "changes": "TMF630-PATCH-03", "disappears": "TMF699-DELETE-03"}


BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(rule.family for rule in RULES))

if len(BY_ID) != len(RULES):  # pragma: no cover - a guard against copy-paste when adding rules
    raise RuntimeError("duplicate rule id in the catalogue")
