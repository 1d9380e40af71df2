"""The reference server's TMF699 v5.0.0 mode: both resources, _FVO/_MVO/_RES views, @type,
``fields`` on every operation, JSON Patch, sorting, JSONPath filtering, cursor paging, ``GET /hub/{id}``
and the v5 event envelope.

It reuses the v4 server's plumbing (``_app.Handler``: sockets, errors, body reading) and reads
everything version-specific (resources, schemas, events, media types) from the ``_apis`` descriptor.
JSON Patch and JSONPath come from python-jsonpath (RFC 6902, RFC 9535). With ``accepted`` on, every
write answers 202 Accepted and takes effect a moment later, as v5 allows.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

import jsonpath

from .._apis import V5, ApiSpec, ResourceSpec
from .._safejson import copy_json
from ._app import (
    INDEXED,
    STORAGE_FAULTS,
    SUMMARY,
    TEXT_MATCH_FAULTS,
    Handler,
    HttpError,
    ServerState,
    _ids_only,
    _later_than,
    _merge,
    _now,
    _stamp,
    represented,
)
from ._events import DELIVERY_TIMEOUT, EventSender, _wanted
from ._query import QueryError, matches, page, parse_filters, select_fields

MEDIA = "application/json"
INITIAL_STATUS = "acknowledged"
ACCEPTED_DELAY = 0.15  # seconds before a 202 Accepted write takes effect
RESERVED = {"fields", "offset", "limit", "sort", "filter", "before", "after"}
UNPARSED = ("@schemaLocation", "agreement")  # what the create-rejects-unparsed fault cannot read
V5_STORAGE_FAULTS = ("html-escapes-text", "valid-for-date-only")  # of _app.STORAGE_FAULTS
UNMAPPED_MEDIA = ("FaxContactMedium", "SocialContactMedium")  # create-rejects-contact-subtypes
# what the fields-base-type-only fault keeps of a polymorphic member: its base type's attributes
BASE_ATTRIBUTES = {"prospectContactMedium": ("@type", "id", "preferred", "contactType", "validFor"),
                   "partyOrPartyRole": ("@type", "@referredType", "id", "href", "name")}
# what survives the patch-put-semantics fault: the mandatory and the server-set attributes
PUT_KEPT = ("@type", "name", "id", "href", "creationDate", "status", "statusChangeDate", "lastUpdate")


class V5Events(EventSender):
    """The v5 envelope: eventId, eventTime, eventType, @type and event.<resource>."""

    def publish_v5(self, subscriptions: list[dict[str, Any]], event_type: str, resource: str,
                   payload: dict[str, Any]) -> None:
        if "events-never-sent" in self.faults:
            return
        event = self._v5_event(event_type, resource, payload)  # one event (one eventId) for every subscription
        for subscription in subscriptions:
            if _wanted(subscription, event_type):
                self.pool.submit(self._deliver, subscription["callback"], event)

    def _v5_event(self, event_type: str, resource: str, payload: dict[str, Any]) -> dict[str, Any]:
        f = self.faults
        key = "salesLead" if resource == "salesOpportunity" and "opportunity-events-as-lead" in f else resource
        event: dict[str, Any] = {"@type": event_type, "eventId": uuid.uuid4().hex, "eventTime": _stamp(_now()),
                                 "eventType": event_type, "event": {key: payload}, "domain": "salesManagement"}
        if "event-untyped" in f:
            del event["@type"]
        if "event-no-event-id" in f:
            del event["eventId"]
        if "event-v4-shape" in f:
            event["timeOcurred"] = event.pop("eventTime")
        if "event-time-future" in f:
            event["eventTime"] = _stamp(_now() + timedelta(hours=1))
        return event


class V5State(ServerState):
    def __init__(self, base_path: str, faults: frozenset[str], schemas: Any, events_to_callback: bool = False,
                 accepted: bool = False, api: ApiSpec = V5) -> None:
        super().__init__(base_path, faults, schemas, events_to_callback)
        self.events.close()
        self.v5_events = self.events = V5Events(faults, events_to_callback)
        self.api = api
        self.accepted = accepted
        self.items: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in api.resources}

    def publish_v5(self, kind: str, resource: ResourceSpec, payload: dict[str, Any]) -> None:
        with self.store.lock:
            subscriptions = list(self.store.hubs.values())
        self.v5_events.publish_v5(subscriptions, resource.events[kind].type, resource.name, payload)

    def later(self, action: Callable[[], None]) -> None:
        """Apply an accepted write a moment after answering 202."""
        timer = threading.Timer(ACCEPTED_DELAY, action)
        timer.daemon = True
        timer.start()


class V5Handler(Handler):
    state: V5State

    # -- plumbing --------------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              ctype: str | None = None) -> None:
        if body is not None and status >= 400 and isinstance(body, dict) and self.state.fault("error-untyped"):
            body.pop("@type", None)
        super()._send(status, body, headers, ctype or MEDIA)

    def _route(self, method: str, segments: list[str]) -> None:
        api = self.state.api
        if segments and segments[0] in api.resources and len(segments) in (1, 2):
            resource = api.resources[segments[0]]
            handlers: dict[str, Callable[..., None]] = (
                {"GET": self.list_items, "POST": self.create_item} if len(segments) == 1
                else {"GET": self.get_item, "PATCH": self.patch_item, "DELETE": self.delete_item})
            if method not in handlers:
                raise HttpError(405, f"{method} is not allowed here", {"Allow": ", ".join(handlers)})
            handlers[method](resource, *segments[1:])
            return
        if segments[:1] == ["hub"] and len(segments) in (1, 2):
            hub: dict[str, Callable[..., None]] = (
                {"POST": self.create_hub_v5} if len(segments) == 1
                else {"GET": self.get_hub, "DELETE": self.delete_hub})
            if method not in hub:
                raise HttpError(405, f"{method} is not allowed here", {"Allow": ", ".join(hub)})
            hub[method](*segments[1:])
            return
        raise HttpError(404, f"no resource at /{'/'.join(segments)}")

    def _href_of(self, resource: ResourceSpec, item_id: str) -> str:
        base = "/tmf-api/sales/v4" if self.state.fault("href-v4-base") else self.state.base_path
        return f"{self.state.public_origin}{base}/{resource.name}/{item_id}"

    def _store(self, resource: ResourceSpec) -> dict[str, dict[str, Any]]:
        return self.state.items[resource.name]

    def _item(self, resource: ResourceSpec, item_id: str) -> dict[str, Any]:
        item = self._store(resource).get(item_id)
        if item is None:
            raise HttpError(404, f"no {resource.name} with id {item_id!r}")
        return item

    def _show(self, resource: ResourceSpec, item: dict[str, Any]) -> dict[str, Any]:
        """What the client sees of a stored item, after any representation fault (see ``represented``)."""
        return represented(item, [partial(distort, self, resource) for name, distort
                                  in V5_REPRESENTATION_FAULTS.items() if name in self.state.faults])

    def _fields(self, item: dict[str, Any], ignore: bool = False) -> dict[str, Any]:
        f = self.state.fault
        fields = None if ignore else dict(self.query).get("fields")
        selected = select_fields(item, fields)
        if fields is None:
            return selected
        if "@type" in item:
            selected["@type"] = item["@type"]  # class information, not an attribute `fields` drops
        if f("fields-shallow-refs"):  # a projection that keeps references' ids only
            selected = {k: v if k in ("id", "href", "@type") else _ids_only(v) for k, v in selected.items()}
        if f("fields-base-type-only"):  # a projection through the base class of polymorphic members
            selected = copy_json(selected)
            for medium in _each(selected.get("prospectContactMedium")):
                _keep(medium, BASE_ATTRIBUTES["prospectContactMedium"])
            for party in _each(selected.get("relatedParty")):
                if isinstance(party.get("partyOrPartyRole"), dict):
                    _keep(party["partyOrPartyRole"], BASE_ATTRIBUTES["partyOrPartyRole"])
        return selected

    # -- collections -------------------------------------------------------------------------------

    def list_items(self, resource: ResourceSpec) -> None:
        f = self.state.fault
        params = dict(self.query)
        text = next((mode for fault, mode in TEXT_MATCH_FAULTS.items() if f(fault)), "exact")
        try:
            filters = [] if f("fields-ignores-filter") and "fields" in params else parse_filters(self.query, RESERVED)
            properties = self._properties(resource)
            for path, _, _ in filters:
                if path[0] not in properties:
                    raise QueryError(f"cannot filter on unknown attribute {path[0]!r}")
            if f("filter-indexed-only"):  # only the indexed columns are filtered; the others are dropped
                filters = [flt for flt in filters if len(flt[0]) == 1 and flt[0][0] in INDEXED]
            with self.state.store.lock:
                everything = [self._show(resource, v) for v in self._store(resource).values()]
            selected = [item for item in everything if matches(item, filters, text)]
            if "filter" in params and not f("filter-ignored"):
                selected = self._json_path_filter(selected, params["filter"])
            if resource.name == "salesOpportunity" and f("opportunity-not-listed") and selected:
                selected = selected[:-1]
            if "sort" in params and not f("sort-ignored"):
                selected = _sorted(selected, params["sort"])
            start = _cursor(params.get("after"), params.get("before"), params.get("limit"), params.get("offset"))
            limit = params.get("limit")
            if f("offset-beyond-last-page") and limit and limit.isdigit() and start >= len(selected):
                start = max(0, len(selected) - int(limit))  # clamped: the last page again
            if f("cursor-repeats-page"):
                start = int(params.get("offset") or 0)
            skew = "page" if f("offset-as-page") else "plus-one" if f("offset-off-by-one") else None
            by_offset = "after" not in params and "before" not in params
            pool = selected
            if f("page-before-filter"):  # LIMIT/OFFSET on the (ordered) table, then WHERE
                pool = _sorted(everything, params["sort"]) if "sort" in params else everything
            chunk, partial = page(pool, str(start), params.get("limit"), skew if by_offset else None)
            if f("page-before-filter"):
                chunk = [item for item in chunk if matches(item, filters, text)]
                if "filter" in params:
                    chunk = self._json_path_filter(chunk, params["filter"])
                partial = len(chunk) < len(selected)
        except QueryError as exc:
            raise HttpError(400, str(exc)) from exc
        body = [self._fields(item) for item in chunk]
        if f("list-summary-view") and "fields" not in params:  # a list projection of a few columns
            body = [{k: v for k, v in item.items() if k in SUMMARY} for item in body]
        if f("list-items-fvo") or (f("fields-drops-id") and "fields" in params):
            body = [{k: v for k, v in item.items() if k not in ("id", "href")} for item in body]
        total = len(chunk) if f("page-total-is-page-size") and "limit" in params else len(selected)
        headers = {"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
        link = self._links(start, len(chunk), len(selected), params)
        if link:
            headers["Link"] = link
        self._send(206 if partial else 200, body, headers)

    def _properties(self, resource: ResourceSpec) -> set[str]:
        schema = self.state.schemas.registry.contents(f"{self.state.schemas.id_base}{resource.type_name}.schema.json")
        found: set[str] = {"id", "href", "@type", "@baseType", "@schemaLocation"}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                found.update((node.get("properties") or {}).keys())
                for part in node.get("allOf", []):
                    walk(part)
                if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                    walk(schema["$defs"][node["$ref"].split("/")[-1]])

        walk(schema)
        return found

    def _json_path_filter(self, items: list[dict[str, Any]], expression: str) -> list[dict[str, Any]]:
        """RFC 9535 JSONPath over the collection: ``$[?@.name=='x']`` selects items."""
        try:
            chosen = jsonpath.findall(expression, items)
        except jsonpath.JSONPathError as exc:
            raise QueryError(f"filter is not a valid JSONPath expression: {exc}") from exc
        ids = {id(item) for item in chosen}
        return [item for item in items if id(item) in ids]

    def _links(self, start: int, size: int, total: int, params: dict[str, str]) -> str:
        """RFC 8288 links to the next and previous pages, with opaque cursors."""
        if "limit" not in params:
            return ""
        base = f"{self.state.public_origin}{self.path.split('?', 1)[0]}"
        others = {k: v for k, v in params.items() if k not in ("after", "before", "offset")}
        links = []
        if start + size < total:
            links.append(f'<{base}?{urlencode({**others, "after": _encode(start + size)})}>; rel="next"')
        if start > 0:
            links.append(f'<{base}?{urlencode({**others, "before": _encode(start)})}>; rel="prev"')
        return ", ".join(links)

    def create_item(self, resource: ResourceSpec) -> None:
        f = self.state.fault
        body = self._json_body()
        if not isinstance(body, dict):
            raise HttpError(400, f"the request body must be a JSON object ({resource.create_schema})")
        present = [k for k in ("creationDate", "status", "statusChangeDate", "lastUpdate") if k in body]
        if present:
            raise HttpError(400, f"{', '.join(present)} are set by the server and must not be sent")
        unparsed = [k for k in UNPARSED if k in body] if f("create-rejects-unparsed") else []
        if f("create-rejects-contact-subtypes"):
            unparsed += [f"prospectContactMedium ({m['@type']})" for m in _each(body.get("prospectContactMedium"))
                         if m.get("@type") in UNMAPPED_MEDIA]
        if unparsed:
            raise HttpError(400, f"cannot deserialise {', '.join(unparsed)}")
        checked = dict(body)
        if f("accepts-no-type"):
            checked.setdefault("@type", resource.type_name)
        if f("accepts-unknown-party-type"):
            checked.pop("relatedParty", None)
        self._validate(resource.create_schema, checked)
        if resource.name == "salesOpportunity" and f("opportunity-lead-ref-dropped"):
            body.pop("salesLead", None)
        for name in V5_STORAGE_FAULTS:  # what the store's columns make of the values written
            if f(name):
                body = STORAGE_FAULTS[name](copy_json(body))
        moment = _stamp(_now())
        item_id = uuid.uuid4().hex
        with self.state.store.lock:
            twin = next((k for k, v in self._store(resource).items() if v.get("name") == body.get("name")), None)
        if twin is not None and f("create-upsert-by-name"):  # the name is taken for a natural key
            item_id = twin
        item = {**body, "id": item_id, "href": self._href_of(resource, item_id), "creationDate": moment,
                "lastUpdate": moment, "status": INITIAL_STATUS, "statusChangeDate": moment}
        item.setdefault("@type", resource.type_name)
        location = {"Location": item["href"]}

        def store() -> None:
            if f("accepted-never-created"):
                return
            with self.state.store.lock:
                if twin is not None and f("create-replaces-same-name"):
                    self._store(resource).pop(twin, None)
                self._store(resource)[item_id] = item
            self.state.publish_v5("create", resource, self._show(resource, item))

        if self.state.accepted or f("accepted-never-created"):
            self.state.later(store)
            self._send(202, None, location)
            return
        store()
        shown = self._show(resource, item)
        self._send(200 if f("create-200") else 201, self._fields(shown, ignore=f("fields-ignored-on-post")), location)

    def get_item(self, resource: ResourceSpec, item_id: str) -> None:
        with self.state.store.lock:
            item = self._item(resource, item_id)
        self._send(200, self._fields(self._show(resource, item)))

    def patch_item(self, resource: ResourceSpec, item_id: str) -> None:
        f = self.state.fault
        api = self.state.api
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        accepted_types = (*api.patch_media_types, *api.optional_patch_media_types)
        if f("patch-refuses-merge-patch"):
            accepted_types = tuple(t for t in accepted_types if t != "application/merge-patch+json")
        if media not in accepted_types:
            raise HttpError(415, f"PATCH takes {', '.join(accepted_types)}, not {media or 'no content type'}",
                            {"Accept-Patch": ", ".join(accepted_types)})
        with self.state.store.lock:
            before = self._item(resource, item_id)
            patch = self._json_body()
            if media in api.optional_patch_media_types:
                updated = self._json_patch(resource, before, patch, query=media.endswith("query+json"))
            else:
                if not isinstance(patch, dict):
                    raise HttpError(400, f"a merge patch must be a JSON object ({resource.update_schema})")
                # RFC 7396: a null is an instruction (remove), not a value the _MVO view describes
                checked = _without_nulls(patch)
                if f("patch-accepts-no-type"):
                    checked.setdefault("@type", resource.type_name)
                if f("patch-refused-but-applied") and "@type" not in checked:  # stored before it is validated
                    self._store(resource)[item_id] = {**_merge(before, patch),
                                                      "lastUpdate": _later_than(before.get("lastUpdate"))}
                self._validate(resource.update_schema, checked)
                if f("patch-put-semantics"):
                    updated = {**{k: before[k] for k in PUT_KEPT if k in before}, **_merge({}, patch)}
                else:
                    updated = _merge(before, patch, nested=not f("patch-replaces-nested"),
                                     nulls=not f("patch-null-ignored"), append=f("patch-appends-arrays"))
                if f("patch-drops-polymorphism"):
                    for key in ("@baseType", "@schemaLocation"):
                        updated.pop(key, None)
            touched = [k for k in resource.read_only if updated.get(k) != before.get(k)]
            if touched:
                raise HttpError(400, f"{', '.join(touched)} cannot be changed")
            self._validate(resource.schema, updated)
            if updated.get("status") != before.get("status") or f("patch-moves-status-date"):
                updated["statusChangeDate"] = _later_than(before.get("statusChangeDate"))
            if not f("last-update-frozen"):
                updated["lastUpdate"] = _later_than(before.get("lastUpdate"))

        def store() -> None:
            if f("accepted-patch-lost") or (f("json-patch-not-stored") and media in api.optional_patch_media_types):
                return
            with self.state.store.lock:
                if item_id in self._store(resource):
                    self._store(resource)[item_id] = updated
            shown = self._show(resource, updated)
            announced = self._show(resource, before) if f("event-stale-lead") else shown
            if updated.get("status") != before.get("status"):
                self.state.publish_v5("stateChange", resource, announced)
            changed = [k for k in updated if updated.get(k) != before.get(k)
                       and k not in ("status", "statusChangeDate", "statusChangeReason", "lastUpdate")]
            if changed:
                self.state.publish_v5("attributeValueChange", resource, announced)

        if self.state.accepted or f("accepted-patch-lost"):
            self.state.later(store)
            self._send(202)
            return
        store()
        # fields-on-patch-stale: the projection is made of the resource as it was before the patch
        projected = self._show(resource, before if f("fields-on-patch-stale") and "fields" in dict(self.query)
                               else updated)
        self._send(200, self._fields(projected, ignore=f("fields-ignored-on-patch")))

    def _json_patch(self, resource: ResourceSpec, item: dict[str, Any], operations: Any,
                    query: bool) -> dict[str, Any]:
        """RFC 6902 (python-jsonpath); with ``query``, a path may be a JSONPath selecting elements. The
        operations apply in order, each to the document the previous one left (RFC 6902 section 3): a
        JSONPath selects from that document too."""
        api = self.state.api
        if api.json_patch_schema:
            self._validate(api.json_patch_schema, operations)
        if self.state.fault("json-patch-ignored"):
            return copy_json(item)
        expanded = []
        patched: Any = copy_json(item)
        try:
            for operation in operations:
                path = operation.get("path", "")
                if query and path.startswith("$"):
                    try:
                        pointers = [str(m.pointer()) for m in jsonpath.finditer(path, patched)]
                    except jsonpath.JSONPathError as exc:
                        raise HttpError(400, f"path {path!r} is not a valid JSONPath: {exc}") from exc
                    if self.state.fault("json-patch-query-literal"):
                        pointers = [path]
                    step = [{**operation, "path": pointer} for pointer in pointers]
                else:
                    step = [operation]
                expanded += step
                patched = jsonpath.JSONPatch(step).apply(patched) if step else patched
        except (jsonpath.JSONPatchError, jsonpath.JSONPointerError) as exc:
            raise HttpError(400, f"the patch cannot be applied: {exc}") from exc
        if not isinstance(patched, dict):  # an operation on the root ("path": "") replaced the resource
            raise HttpError(400, "the patch must leave the resource a JSON object")
        result: dict[str, Any] = patched
        if self.state.fault("json-patch-replaces"):  # the operations' result replaces the resource
            kept = {"id", "href", "@type", "creationDate", "status", "statusChangeDate", "lastUpdate", "name"}
            touched = {str(o.get("path", "")).lstrip("/").split("/", 1)[0] for o in expanded}
            result = {k: v for k, v in result.items() if k in kept | touched}
        return result

    def delete_item(self, resource: ResourceSpec, item_id: str) -> None:
        f = self.state.fault
        with self.state.store.lock:
            item = self._item(resource, item_id)

        def remove() -> None:
            if f("accepted-delete-lost") or (resource.name == "salesOpportunity" and f("opportunity-delete-noop")):
                return
            with self.state.store.lock:
                self._store(resource).pop(item_id, None)
            if not f("delete-event-not-sent"):
                self.state.publish_v5("delete", resource, self._show(resource, item))

        if self.state.accepted or f("accepted-delete-lost"):
            self.state.later(remove)
            self._send(202)
            return
        remove()
        if f("delete-200"):
            self._send(200, self._show(resource, item))
            return
        self._send(204)

    # -- hub ---------------------------------------------------------------------------------------

    def create_hub_v5(self) -> None:
        api = self.state.api
        body = self._json_body()
        self._validate(api.hub_input_schema, body)
        hub_id = uuid.uuid4().hex
        href = f"{self.state.public_origin}{self.state.base_path}/hub/{hub_id}"
        subscription = {"@type": body.get("@type", "Hub"), "id": hub_id, "href": href, "callback": body["callback"],
                        "query": body.get("query", "")}
        with self.state.store.lock:
            self.state.store.hubs[hub_id] = subscription
        self._send(201, subscription, {"Location": href})

    def get_hub(self, hub_id: str) -> None:
        with self.state.store.lock:
            subscription = self.state.store.hubs.get(hub_id)
        if subscription is None or self.state.fault("hub-get-missing"):
            raise HttpError(404, f"no hub subscription with id {hub_id!r}")
        shown = dict(subscription)
        if self.state.fault("hub-get-other-callback"):
            shown["callback"] = "http://listener.invalid/other"
        self._send(200, shown)


def _encode(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))["p"]
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError(f"{cursor!r} is not a cursor this server issued") from exc
    if not isinstance(position, int) or position < 0:
        raise QueryError(f"{cursor!r} is not a cursor this server issued")
    return position


def _cursor(after: str | None, before: str | None, limit: str | None, offset: str | None) -> int:
    """The start of the page: from a cursor (after/before) or the offset."""
    if after is not None and before is not None:
        raise QueryError("give either before or after, not both")
    if after is not None:
        return _decode(after)
    if before is not None:
        end = _decode(before)
        try:
            size = int(limit) if limit is not None else end
        except ValueError as exc:
            raise QueryError("limit must be an integer") from exc
        return max(0, end - size)
    try:
        return int(offset) if offset is not None else 0
    except ValueError as exc:
        raise QueryError("offset must be an integer") from exc


def _sorted(items: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    """``sort=a,-b``: stable sorts from the last key to the first; items lacking a key go last."""
    result = list(items)
    for key in reversed([k.strip() for k in spec.split(",") if k.strip()]):
        descending = key.startswith("-")
        name = key.lstrip("-+")
        present = [i for i in result if isinstance(i.get(name), str | int | float)]
        absent = [i for i in result if not isinstance(i.get(name), str | int | float)]
        try:
            present.sort(key=lambda i: i[name], reverse=descending)
        except TypeError as exc:
            raise QueryError(f"cannot sort on {name!r}: mixed types") from exc
        result = present + absent
    return result


# -- representation faults ----------------------------------------------------------------------


def _each(values: Any) -> list[dict[str, Any]]:
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _keep(member: dict[str, Any], names: tuple[str, ...]) -> None:
    for key in [k for k in member if k not in names]:
        del member[key]


def _without_nulls(value: Any) -> Any:
    """A merge patch without its null members, at any depth: what the patch sets."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _untyped_media(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    for medium in _each(item.get("prospectContactMedium")):
        medium.pop("@type", None)


def _unknown_media(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    for medium in _each(item.get("prospectContactMedium")):
        if medium.get("@type") == "EmailContactMedium":
            medium["@type"] = "EMailContactMedium"


def _untyped_parties(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    for party in _each(item.get("relatedParty")):
        if isinstance(party.get("partyOrPartyRole"), dict):
            party["partyOrPartyRole"].pop("@type", None)


def _v4_names(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    if "salesLeadType" in item:
        item["type"] = item.pop("salesLeadType")
    if "prospectContactMedium" in item:
        item["prospectContact"] = item.pop("prospectContactMedium")


def _revenue_object(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    if isinstance(item.get("revenueEstimate"), list) and item["revenueEstimate"]:
        item["revenueEstimate"] = item["revenueEstimate"][0]


def _broken_lead_refs(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    if r.name == "salesOpportunity":
        for ref in _each(item.get("salesLead")):
            ref["href"] = h._href_of(h.state.api.resources["salesLead"], "not-" + str(ref.get("id")))


def _untyped_items(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    for part in _each(item.get("salesOpportunityItem")):
        part.pop("@type", None)


def _upper_status(h: V5Handler, r: ResourceSpec, item: dict[str, Any]) -> None:
    if isinstance(item.get("status"), str):
        item["status"] = item["status"].upper()


# fault name -> how it distorts the representation of a stored item (in place)
V5_REPRESENTATION_FAULTS: dict[str, Callable[[V5Handler, ResourceSpec, dict[str, Any]], None]] = {
    "contact-medium-untyped": _untyped_media,
    "contact-medium-unknown-type": _unknown_media,
    "party-ref-untyped": _untyped_parties,
    "res-no-type": lambda h, r, item: item.pop("@type", None),
    "res-wrong-type": lambda h, r, item: item.update({"@type": r.type_name.replace("Sales", "")}),
    "res-no-href": lambda h, r, item: item.pop("href", None),
    "v4-attribute-names": _v4_names,
    "revenue-not-array": _revenue_object,
    "opportunity-lead-ref-broken": _broken_lead_refs,
    "opportunity-item-untyped": _untyped_items,
    "status-uppercase": _upper_status,
}

__all__ = ["DELIVERY_TIMEOUT", "V5Handler", "V5State"]
