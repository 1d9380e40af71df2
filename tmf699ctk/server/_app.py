"""The reference TMF699 v4.0.0 server: stdlib HTTP, in-memory store, optional injected faults."""

from __future__ import annotations

import html
import json
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .._safejson import copy_json
from .._schemas import SchemaStore
from ._events import EventSender
from ._query import QueryError, matches, page, parse_filters, select_fields, sort_items

JSON = "application/json;charset=utf-8"
READ_ONLY = ("id", "href", "creationDate")
SERVER_SET = ("id", "href", "creationDate", "status", "statusChangeDate")
PATCH_TYPES = ("application/merge-patch+json", "application/json")
UNPARSED = ("@schemaLocation", "prospectContact")  # what the create-rejects-unparsed fault cannot read
INITIAL_STATUS = "acknowledged"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    # never a whole second (.000): clients read those as a clock of 1-second resolution, which cannot
    # show a change made within the second, and the self-check's faults would pass 1 time in 1000
    if moment.microsecond < 1000:
        moment = moment.replace(microsecond=1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Store:
    """Leads and hub subscriptions, in memory, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.leads: dict[str, dict[str, Any]] = {}
        self.hubs: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}  # the delete-soft-listed fault's soft-deleted leads


class ServerState:
    # `serve --latency-ms/--jitter-ms/--log`: answer as a slow server would, and say what was asked
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    log: Callable[[str], None] | None = None

    def __init__(self, base_path: str, faults: frozenset[str], schemas: SchemaStore,
                 events_to_callback: bool = False) -> None:
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.faults = faults
        self.schemas = schemas
        self.store = Store()
        self.public_origin = ""  # set once the socket is bound
        self.events = EventSender(faults, events_to_callback)
        self.unsubscribed: list[dict[str, Any]] = []  # kept only for the events-after-unsubscribe fault

    def publish(self, event_type: str, lead: dict[str, Any]) -> None:
        with self.store.lock:
            subscriptions = list(self.store.hubs.values())
        if self.fault("events-after-unsubscribe"):
            subscriptions += self.unsubscribed
        self.events.publish(subscriptions, event_type, lead)

    def fault(self, name: str) -> bool:
        return name in self.faults

    def delay(self) -> None:
        if self.latency_ms or self.jitter_ms:
            time.sleep((self.latency_ms + random.uniform(0, self.jitter_ms)) / 1000)


class Handler(BaseHTTPRequestHandler):
    server_version = "tmf699ctk-reference/0.1"
    protocol_version = "HTTP/1.1"
    state: ServerState  # injected by the server class

    # -- plumbing --------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes; without NODELAY each response waits ~40 ms
        # for the client's delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet unless `serve --log`: tests read results
        if self.state.log is not None:
            self.state.log(format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.query = parse_qsl(parts.query, keep_blank_values=True)
        self.body_bytes = self._read_body()
        self.state.delay()  # before the work: a slow server still creates what a client gave up on
        base = self.state.base_path
        path = parts.path.rstrip("/")
        try:
            if not (path == base or path.startswith(base + "/")):
                raise HttpError(404, f"no resource at {parts.path}; the API lives under {base or '/'}")
            segments = [unquote(s) for s in path[len(base):].split("/") if s]
            self._route(method, segments)
        except HttpError as exc:
            self._error(exc.status, exc.message, exc.headers)
        except Exception as exc:  # the reference server answers 500 rather than dropping the socket
            self._error(500, f"internal error: {exc!r}")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, method: str, segments: list[str]) -> None:
        routes: dict[tuple[str, ...], dict[str, Any]] = {
            ("salesLead",): {"GET": self.list_leads, "POST": self.create_lead},
            ("salesLead", "*"): {"GET": self.get_lead, "PATCH": self.patch_lead, "DELETE": self.delete_lead},
            ("hub",): {"POST": self.create_hub},
            ("hub", "*"): {"DELETE": self.delete_hub},
        }
        key = tuple(segments[:1]) + (("*",) if len(segments) == 2 else ())
        if len(segments) not in (1, 2) or key not in routes:
            raise HttpError(404, f"no resource at /{'/'.join(segments)}")
        handlers = routes[key]
        if method not in handlers:
            raise HttpError(405, f"{method} is not allowed here", {"Allow": ", ".join(handlers)})
        handlers[method](*segments[1:])

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              ctype: str | None = None) -> None:
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        if body is not None:
            if self.state.fault("text-content-type"):
                ctype = "text/plain"
            self.send_header("Content-Type", ctype or JSON)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        if self.state.fault("error-body-missing"):
            self._send(status, None, headers)
            return
        reason = HTTPStatus(status).phrase
        body: dict[str, Any] = {"code": str(status), "reason": reason, "message": message,
                                "status": str(status), "@type": "Error"}
        if self.state.fault("error-body-no-code"):
            body.pop("code")
        if self.state.fault("error-code-integer"):
            body["code"] = status
        ctype = "text/html" if self.state.fault("error-text-html") else None
        self._send(status, body, headers, ctype)

    def _json_body(self) -> Any:
        if not self.body_bytes:
            raise HttpError(400, "a JSON request body is required")
        try:
            return json.loads(self.body_bytes)
        except ValueError as exc:
            if self.state.fault("malformed-json-500"):
                raise RuntimeError("unparseable body") from exc
            raise HttpError(400, f"the request body is not valid JSON: {exc}") from exc

    def _validate(self, schema: str, body: Any, enums_only: bool = False) -> None:
        problems = self.state.schemas.errors(schema, body, limit=50 if enums_only else 5)
        if enums_only:  # the patch-no-type-check fault: a validator of enums, not of types
            problems = [problem for problem in problems if "is not one of" in problem][:5]
        if problems:
            raise HttpError(400, f"invalid {schema}: " + "; ".join(problems))

    # -- representation --------------------------------------------------------------------------

    def _href(self, lead_id: str) -> str:
        return f"{self.state.public_origin}{self.state.base_path}/salesLead/{lead_id}"

    def _represent(self, lead: dict[str, Any]) -> dict[str, Any]:
        """What the client sees of a stored lead, after any representation fault (see ``represented``)."""
        return represented(lead, [partial(distort, self) for name, distort in REPRESENTATION_FAULTS.items()
                                  if name in self.state.faults])

    def _lead(self, lead_id: str) -> dict[str, Any]:
        lead = self.state.store.leads.get(lead_id)
        if lead is None:
            raise HttpError(404, f"no salesLead with id {lead_id!r}")
        return lead

    # -- salesLead -------------------------------------------------------------------------------

    def list_leads(self) -> None:
        f = self.state.fault
        params = dict(self.query)
        reserved = {"fields", "offset", "limit", "sort"}
        text = next((mode for fault, mode in TEXT_MATCH_FAULTS.items() if f(fault)), "exact")
        try:
            filters = [] if f("ignore-filters") or (f("fields-ignores-filter") and "fields" in params) \
                else parse_filters(self.query, reserved, or_values=not f("or-filter-literal"),
                                   operators=not f("date-ops-ignored"))
            with self.state.store.lock:
                everything = [self._represent(v) for v in self.state.store.leads.values()]
                if f("delete-soft-listed") and not any(path == ["id"] for path, _, _ in filters):
                    # the deleted flag is checked by the id lookups only
                    everything += [self._represent(v) for v in self.state.store.deleted.values()]
            known = self._attributes()
            for path, _, _ in filters:
                if path[0] not in known:
                    raise QueryError(f"cannot filter on unknown attribute {path[0]!r}")
            if f("filter-indexed-only"):  # only the indexed columns are filtered; the others are dropped
                filters = [flt for flt in filters if len(flt[0]) == 1 and flt[0][0] in INDEXED]
            selected = [lead for lead in everything if matches(lead, filters, text)]
            if "sort" in params and not f("sort-ignored"):
                selected = sort_items(selected, params["sort"], known, descending=not f("sort-descending-ignored"))
            if f("list-duplicates"):  # a join on notes: one row per note
                selected = [lead for lead in selected for _ in range(max(1, len(lead.get("note") or [])))]
            if f("fields-drops-noted") and "fields" in params:  # counted as it returns them
                selected = [lead for lead in selected if not lead.get("note")]
            if f("list-200-only-first") and selected:
                selected = selected[:-1]
            skew = "page" if f("offset-as-page") else "plus-one" if f("offset-off-by-one") else None
            offset, limit = params.get("offset"), params.get("limit")
            if f("offset-beyond-last-page") and offset and limit and offset.isdigit() and limit.isdigit() \
                    and int(offset) >= len(selected):  # clamped: the last page again
                offset = str(max(0, len(selected) - int(limit)))
            pool = selected
            if f("page-before-filter"):  # LIMIT/OFFSET on the (ordered) table, then WHERE
                pool = sort_items(everything, params["sort"], known) if "sort" in params else everything
            chunk, partial = page(
                pool,
                None if f("ignore-offset") else offset,
                None if f("ignore-limit") else params.get("limit"),
                skew,
            )
            if f("page-before-filter"):
                chunk = [lead for lead in chunk if matches(lead, filters, text)]
                partial = len(chunk) < len(selected)
        except QueryError as exc:
            raise HttpError(400, str(exc)) from exc
        body: Any = [self._select(item) for item in chunk]
        if f("list-summary-view") and "fields" not in dict(self.query):  # a list projection of a few columns
            body = [{k: v for k, v in item.items() if k in SUMMARY} for item in body]
        headers = {}
        if not f("no-count-headers"):
            total = len(everything) if f("wrong-total-count") else len(selected)
            if f("page-total-is-page-size") and "limit" in params:
                total = len(chunk)
            shown = len(selected) if f("result-count-total") else len(body)
            headers = {"X-Total-Count": str(total), "X-Result-Count": str(shown)}
        if f("list-object"):
            body = {"items": body}
        self._send(206 if partial else 200, body, headers)

    def _attributes(self) -> set[str]:
        schema = self.state.schemas.registry.contents(self.state.schemas.id_base + "SalesLead.schema.json")
        return set(schema["properties"])

    def _select(self, lead: dict[str, Any]) -> dict[str, Any]:
        """Apply ?fields= to one representation (with the fields faults)."""
        f = self.state.fault
        fields = None if f("ignore-fields") else dict(self.query).get("fields")
        if fields == "none" and f("fields-none-ignored"):
            fields = None
        selected = select_fields(lead, fields)
        if fields is not None and f("fields-drops-id"):
            wanted = set(fields.split(","))
            selected = {k: v for k, v in selected.items() if k in wanted}
        if fields is not None and f("fields-shallow-refs"):  # a projection that keeps references' ids only
            selected = {k: _ids_only(v) if k not in ("id", "href") else v for k, v in selected.items()}
        return selected

    def create_lead(self) -> None:
        f = self.state.fault
        try:
            body = self._json_body()
        except HttpError:
            if not (f("malformed-json-accepted") and self.body_bytes):
                raise
            body = {"name": "unnamed lead"}
        if not isinstance(body, dict):
            raise HttpError(400, "the request body must be a JSON object (SalesLead_Create)")
        present = [k for k in SERVER_SET if k in body]
        if present and not f("create-honours-server-set"):
            raise HttpError(400, f"{', '.join(present)} are set by the server and must not be sent")
        taken = {k: body.pop(k) for k in present}  # create-honours-server-set: a generic mapper's values
        unparsed = [k for k in UNPARSED if k in body] if f("create-rejects-unparsed") else []
        if unparsed:
            raise HttpError(400, f"cannot deserialise {', '.join(unparsed)}")
        if f("create-no-validation") and "name" not in body:
            body = {**body, "name": ""}
        unchecked = {"priority"} if f("create-no-enum-check") else set()
        unchecked |= {"estimatedRevenue"} if f("type-not-validated") else set()
        self._validate("SalesLead_Create", {k: v for k, v in body.items() if k not in unchecked})
        if f("create-drops-optional"):
            body = {"name": body["name"]}
        for name, drop in STORAGE_FAULTS.items():
            if f(name):
                body = drop(copy_json(body))
        moment = _now()
        if f("creation-date-future"):  # local time written as UTC by a server an hour east of Greenwich
            moment += timedelta(hours=1)
        lead_id = uuid.uuid4().hex
        lead = {"id": lead_id, "href": self._href(lead_id), **body, "creationDate": _stamp(moment),
                "status": INITIAL_STATUS, "statusChangeDate": _stamp(moment)}
        if taken:
            lead.update(taken)
            lead_id = str(lead["id"])
            lead["href"] = self._href(lead_id)
        if f("status-date-day-only"):
            lead["statusChangeDate"] = _stamp(moment.replace(hour=0, minute=0, second=0, microsecond=0))
        if f("create-no-status"):
            del lead["status"]
        stored = lead
        if f("create-echo-not-stored"):  # the answer is built from the request, the row lacks two columns
            stored = {k: v for k, v in lead.items() if k not in ("note", "validFor")}
        with self.state.store.lock:
            twin = next((k for k, v in self.state.store.leads.items() if v.get("name") == lead.get("name")), None)
            if twin is not None and f("create-upsert-by-name"):
                lead_id = stored["id"] = lead["id"] = twin
                stored["href"] = lead["href"] = self._href(twin)
            elif twin is not None and f("create-replaces-same-name"):
                del self.state.store.leads[twin]
            if not f("create-not-persisted"):
                self.state.store.leads[lead_id] = stored
        representation = self._represent(lead)
        if f("href-differs-on-post"):  # the POST answer's href is built another way than later reads'
            representation["href"] += "/"
        self.state.publish("SalesLeadCreateEvent", representation)
        headers = {} if f("no-location") else {"Location": lead["href"]}
        if f("location-collection"):
            headers["Location"] = f"{self.state.public_origin}{self.state.base_path}/salesLead"
        if f("location-internal-host"):
            headers["Location"] = f"http://sales-backend.internal:8080{self.state.base_path}/salesLead/{lead_id}"
        if f("create-array"):
            self._send(201, [representation], headers)
            return
        self._send(200 if f("create-200") else 201, representation, headers)

    def get_lead(self, lead_id: str) -> None:
        with self.state.store.lock:
            lead = self.state.store.leads.get(lead_id)
        if lead is None:
            if self.state.fault("get-unknown-200"):
                self._send(200, {})
                return
            if self.state.fault("get-unknown-500"):
                raise RuntimeError(f"NullPointerException looking up {lead_id}")
            raise HttpError(404, f"no salesLead with id {lead_id!r}")
        self._send(200, self._select(self._represent(lead)))

    def patch_lead(self, lead_id: str) -> None:
        f = self.state.fault
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media not in PATCH_TYPES or (f("patch-refuses-merge-patch") and media != "application/json"):
            raise HttpError(415, f"PATCH takes {' or '.join(PATCH_TYPES)}, not {media or 'no content type'}",
                            {"Accept-Patch": ", ".join(PATCH_TYPES)})
        if media == "application/json" and f("patch-json-500"):
            raise RuntimeError("no handler for application/json patches")
        with self.state.store.lock:
            if lead_id not in self.state.store.leads and f("patch-unknown-upsert"):
                moment = _stamp(_now())
                self.state.store.leads[lead_id] = {"id": lead_id, "href": self._href(lead_id), "name": "upserted",
                                                   "creationDate": moment, "status": INITIAL_STATUS,
                                                   "statusChangeDate": moment}
            lead = self._lead(lead_id)
            try:
                patch = self._json_body()
            except HttpError as exc:
                if f("patch-malformed-json-500") and self.body_bytes:  # the PATCH handler's own parser
                    raise RuntimeError("unparseable PATCH body") from exc
                raise
            if not isinstance(patch, dict):
                raise HttpError(400, "a merge patch must be a JSON object")
            touched = [k for k in READ_ONLY if k in patch]
            if touched and not f("patch-accepts-readonly"):
                raise HttpError(400, f"{', '.join(touched)} cannot be changed")
            if f("patch-put-semantics"):  # the patch replaces the lead; only server-set values survive
                updated = {**{k: lead[k] for k in SERVER_SET if k in lead}, **_merge({}, patch)}
            else:
                updated = _merge(lead, patch, nested=not f("patch-replaces-nested"),
                                 nulls=not f("patch-null-ignored"), append=f("patch-appends-arrays"))
            if not f("patch-no-enum-check"):
                # RFC 7396: a null is an instruction, not a value; what must be valid is the result
                self._validate("SalesLead_Update", updated, enums_only=f("patch-no-type-check"))
            status_changed = updated.get("status") != lead.get("status")
            if (status_changed or f("patch-moves-status-date")) and "statusChangeDate" not in patch \
                    and not f("status-change-date-frozen"):
                updated["statusChangeDate"] = _later_than(lead.get("statusChangeDate"))
            if not f("patch-not-persisted"):
                self.state.store.leads[lead_id] = updated
                if "id" in patch and patch["id"] != lead_id:
                    self.state.store.leads[patch["id"]] = self.state.store.leads.pop(lead_id)
        shown = self._represent(updated)
        if status_changed and f("patch-response-differs"):  # the answer re-reads the clock
            shown["statusChangeDate"] = _later_than(updated.get("statusChangeDate"))
        announced = self._represent(lead) if f("event-stale-lead") else shown
        if status_changed:
            self.state.publish("SalesLeadStateChangeEvent", announced)
        changed = [k for k in patch if k not in ("status", "statusChangeDate", "statusChangeReason")]
        if changed:
            self.state.publish("SalesLeadAttributeValueChangeEvent", announced)
        self._send(200, self._represent(lead) if f("patch-stale-response") else shown)

    def delete_lead(self, lead_id: str) -> None:
        f = self.state.fault
        with self.state.store.lock:
            if lead_id not in self.state.store.leads:
                if f("delete-unknown-204"):
                    self._send(204)
                    return
                raise HttpError(404, f"no salesLead with id {lead_id!r}")
            lead = self.state.store.leads[lead_id]
            if not f("delete-noop"):
                del self.state.store.leads[lead_id]
                if f("delete-soft-listed"):
                    self.state.store.deleted[lead_id] = lead
        self.state.publish("SalesLeadDeleteEvent", self._represent(lead))
        if f("delete-200"):
            self._send(200, self._represent(lead))
            return
        self._send(204)

    # -- hub ---------------------------------------------------------------------------------------

    def create_hub(self) -> None:
        body = self._json_body()
        self._validate("EventSubscriptionInput", body)
        hub_id = uuid.uuid4().hex
        subscription = {"id": hub_id, "callback": body["callback"], "query": body.get("query", "")}
        with self.state.store.lock:
            self.state.store.hubs[hub_id] = subscription
        shown = {k: v for k, v in subscription.items() if k != "id"} if self.state.fault("hub-no-id") \
            else subscription
        self._send(201, shown, {"Location": f"{self.state.public_origin}{self.state.base_path}/hub/{hub_id}"})

    def delete_hub(self, hub_id: str) -> None:
        with self.state.store.lock:
            removed = self.state.store.hubs.pop(hub_id, None)
        if removed is None:
            if self.state.fault("hub-delete-unknown-204"):
                self._send(204)
                return
            raise HttpError(404, f"no hub subscription with id {hub_id!r}")
        self.state.unsubscribed.append(removed)
        if self.state.fault("hub-delete-200"):
            self._send(200, removed)
            return
        self._send(204)


def represented(item: dict[str, Any], distortions: list[Callable[[dict[str, Any]], object]]) -> dict[str, Any]:
    """A stored resource as served, after the representation faults' ``distortions``: a copy whose top
    level the caller may change. A stored resource is never changed in place (a patch stores a new
    dict), so its members are copied only for a fault to distort them."""
    if not distortions:
        return dict(item)
    out = copy_json(item)
    for distort in distortions:
        distort(out)
    return out


def _merge(target: Any, patch: Any, *, nested: bool = True, nulls: bool = True, append: bool = False) -> Any:
    """RFC 7396 JSON Merge Patch; the flags switch parts of it off, as faulty servers do: objects
    replaced rather than merged, nulls ignored, arrays appended to."""
    if not isinstance(patch, dict):
        if append and isinstance(patch, list) and isinstance(target, list):
            return copy_json(target) + copy_json(patch)
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            if nulls:
                result.pop(key, None)
        elif isinstance(value, dict) and not nested:
            result[key] = {k: v for k, v in value.items() if v is not None or not nulls}
        else:
            result[key] = _merge(result.get(key), value, nested=nested, nulls=nulls, append=append)
    return result


def _later_than(previous: str | None) -> str:
    """Now, but strictly after ``previous`` even within the same millisecond."""
    moment = _now()
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # as _stamp writes it
    if previous:
        try:
            before = datetime.fromisoformat(previous.replace("Z", "+00:00"))
            if moment <= before:
                moment = before + timedelta(milliseconds=1)
        except ValueError:
            pass
    return _stamp(moment)


def _ids_only(value: Any) -> Any:
    if isinstance(value, dict) and "id" in value:
        return {"id": value["id"]}
    if isinstance(value, list):
        return [_ids_only(v) for v in value]
    return value


def _without(*names: str) -> Any:
    return lambda body: {k: v for k, v in body.items() if k not in names}


def _drop_referred_types(body: dict[str, Any]) -> dict[str, Any]:
    for value in body.values():
        if isinstance(value, dict):  # the *Ref objects (a RelatedParty needs it: the schema would say so)
            value.pop("@referredType", None)
    return body


def _offset_lost(body: dict[str, Any]) -> dict[str, Any]:
    date = body.get("referredDate")
    if isinstance(date, str) and date.endswith("Z"):
        body["referredDate"] = date[:-1] + "+01:00"  # the wall-clock time kept, the instant changed
    return body


# fault name -> how the stored body of a new lead loses or changes what was posted
STORAGE_FAULTS: dict[str, Any] = {
    "create-drops-polymorphism": _without("@type", "@baseType", "@schemaLocation"),
    "create-drops-refs": _without("product", "productOffering", "productSpecification", "marketSegment",
                                  "marketingCampaign", "salesOpportunity"),
    "ref-drops-referred-type": _drop_referred_types,
    "date-offset-lost": _offset_lost,
    # what a store's columns make of the values written
    "unicode-to-ascii": lambda body: _strings(body, lambda text: text.encode("ascii", "replace").decode("ascii")),
    "html-escapes-text": lambda body: _strings(body, html.escape),
    "valid-for-date-only": lambda body: _valid_for_date_only(body),
}
# list-summary-view: what the list shows of each lead
SUMMARY = frozenset({"id", "href", "name", "status", "creationDate", "statusChangeDate", "priority", "@type"})
# filter-indexed-only: the attributes a filter works on (the others are dropped)
INDEXED = frozenset({"id", "name", "status", "creationDate", "statusChangeDate"})
# fault name -> how ?name=value compares (see _query.TEXT_MATCH)
TEXT_MATCH_FAULTS = {"filter-substring": "substring", "filter-case-insensitive": "casefold",
                     "filter-prefix": "prefix"}


def _strings(value: Any, change: Callable[[str], str]) -> Any:
    """Every string value (not the member names) as ``change`` makes it."""
    if isinstance(value, dict):
        return {key: _strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_strings(item, change) for item in value]
    return change(value) if isinstance(value, str) else value


def _valid_for_date_only(body: dict[str, Any]) -> dict[str, Any]:
    """validFor in two DATE columns: the time of day is lost."""
    period = body.get("validFor")
    if isinstance(period, dict):
        for key in ("startDateTime", "endDateTime"):
            if isinstance(period.get(key), str):
                period[key] = period[key][:10] + "T00:00:00Z"
    return body


def _first_note_only(lead: dict[str, Any]) -> None:
    if isinstance(lead.get("note"), list) and lead["note"]:
        lead["note"] = lead["note"][0]


def _revenue_as_string(lead: dict[str, Any]) -> None:
    revenue = lead.get("estimatedRevenue")
    if isinstance(revenue, dict) and "value" in revenue:
        revenue["value"] = str(revenue["value"])


def _upper_status(lead: dict[str, Any]) -> None:
    if isinstance(lead.get("status"), str):
        lead["status"] = lead["status"].upper()


def _local_date(lead: dict[str, Any]) -> None:
    if "creationDate" in lead:
        lead["creationDate"] = datetime.fromisoformat(lead["creationDate"]).strftime("%d/%m/%Y %H:%M")


def _parties_without_id(lead: dict[str, Any]) -> None:
    for party in lead.get("relatedParty", []):
        party.pop("id", None)


# fault name -> how it distorts the representation of a stored lead (in place)
REPRESENTATION_FAULTS: dict[str, Any] = {
    "status-uppercase": lambda h, lead: _upper_status(lead),
    "date-not-rfc3339": lambda h, lead: _local_date(lead),
    "ref-without-id": lambda h, lead: _parties_without_id(lead),
    "create-no-href": lambda h, lead: lead.pop("href", None),
    "href-relative": lambda h, lead: lead.update(href=f"{h.state.base_path}/salesLead/{lead['id']}"),
    "href-wrong-id": lambda h, lead: lead.update(href=h._href(lead["id"][::-1])),
    "null-optional": lambda h, lead: lead.update(statusChangeReason=None),
    "note-as-object": lambda h, lead: _first_note_only(lead),
    "schema-location-relative": lambda h, lead: lead.update({"@schemaLocation": "schemas/SalesLead.json"}),
    "revenue-as-string": lambda h, lead: _revenue_as_string(lead),
}


class ReferenceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of new connections (a concurrent block's first
    # requests) beyond it waits for the client's SYN retransmission, a whole second
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up (its deadline passed, its run was interrupted): not a server bug
        super().handle_error(request, client_address)
