"""A second, independently written TMF699 v5.0.0 server: conformant, but unlike the reference one.

Written from the v5 spec and the TMF630 guidelines alone: it shares no code with the reference
server, the kit's schemas, checks or API descriptor (its validation rules are its own, below). It
differs wherever the spec leaves room:

- ids are sequential numbers ("5001"), lists are newest first, every page answers 200;
- timestamps have 1-second resolution and a ``+00:00`` offset; a relative ``Location``;
- the items of arrays (notes, parties, contact media, revenue estimates) come back in another
  order than sent;
- a second POST of the body of a resource that still exists is refused with 409 Conflict;
- ``DELETE`` is asynchronous: 202 Accepted, the resource goes a moment later;
- events are POSTed to the callback URL itself, not to ``{callback}/listener/<name>``;
- optional features are declined: JSON Patch and PATCH with ``application/json`` (415), ``sort``,
  ``filter``, ``before``/``after``, ``fields=none``, OR filters and date operators (400).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

KINDS = {"salesLead": "SalesLead", "salesOpportunity": "SalesOpportunity"}
PRIORITY = ("low", "medium", "high")
STATES = ("accepted", "acknowledged", "cancelled", "inProgress", "pending", "rejected")
READ_ONLY = ("id", "href", "creationDate")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # events go straight to the listener
SERVER_OWNED = ("creationDate", "status", "statusChangeDate", "lastUpdate")
TEXT = ("name", "description", "rating", "salesLeadType", "salesOpportunityType", "statusChangeReason",
        "@type", "@baseType", "@schemaLocation")
LISTS = ("revenueEstimate", "note", "relatedParty", "prospectContactMedium", "agreement", "productOffering",
         "productSpecification", "product", "salesOpportunity", "salesLead", "quote", "salesProject",
         "salesOpportunityItem")
PARTY_KINDS = ("PartyRef", "PartyRoleRef")
MEDIUM_KINDS = ("EmailContactMedium", "PhoneContactMedium", "FaxContactMedium", "GeographicAddressContactMedium",
                "SocialContactMedium")
NOT_OFFERED = ("sort", "filter", "before", "after")
REORDERED = ("note", "relatedParty", "prospectContactMedium", "revenueEstimate", "agreement", "productOffering")
DELETE_DELAY = 0.1


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _is_date(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in str(value)


def _check(kind: str, body: dict[str, Any], creating: bool) -> str | None:
    """This server's own reading of <Kind>_FVO (creating) and <Kind>_MVO."""
    if body.get("@type") != kind and body.get("@baseType") != kind:
        return f"@type must be {kind} (or an extension with @baseType {kind})"
    if creating and not isinstance(body.get("name"), str):
        return "name is mandatory and must be a string"
    for key, value in body.items():
        if value is None:
            continue
        if key in TEXT and not isinstance(value, str):
            return f"{key} must be a string"
        if key == "priority" and value not in PRIORITY:
            return f"priority must be one of {', '.join(PRIORITY)}"
        if key == "status" and value not in STATES:
            return f"status {value!r} is not a known state"
        if key in ("referredDate", "statusChangeDate") and not _is_date(value):
            return f"{key} must be a date-time"
        if key in LISTS and not isinstance(value, list):
            return f"{key} must be an array"
    for estimate in body.get("revenueEstimate") or []:
        amount = estimate.get("amount") if isinstance(estimate, dict) else None
        if not isinstance(amount, dict) or not isinstance(amount.get("value"), int | float) \
                or isinstance(amount.get("value"), bool):
            return "revenueEstimate[].amount.value must be a number"
    for party in body.get("relatedParty") or []:
        if not isinstance(party, dict) or not isinstance(party.get("role"), str):
            return "every relatedParty needs a role"
        ref = party.get("partyOrPartyRole")
        if ref is not None and (not isinstance(ref, dict) or ref.get("@type") not in PARTY_KINDS):
            return f"relatedParty[].partyOrPartyRole must be one of {', '.join(PARTY_KINDS)}"
    for medium in body.get("prospectContactMedium") or []:
        if not isinstance(medium, dict) or medium.get("@type") not in MEDIUM_KINDS:
            return f"prospectContactMedium[] must be one of {', '.join(MEDIUM_KINDS)}"
    return None


def _kept(body: dict[str, Any]) -> dict[str, Any]:
    """How this server keeps what it is sent: arrays in its own (reversed) order."""
    kept: dict[str, Any] = json.loads(json.dumps(body))
    for name in REORDERED:
        if isinstance(kept.get(name), list):
            kept[name].reverse()
    return kept


def _merged(document: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7396), this server's own reading: objects merge member by member,
    null removes, anything else (arrays included) replaces."""
    if not isinstance(patch, dict):
        return json.loads(json.dumps(patch))
    result = dict(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def _fingerprint(kind: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, body], sort_keys=True).encode()).hexdigest()


def _asks_for(query: str, event_type: str) -> bool:
    wanted = ",".join(parse_qs(query).get("eventType", []))
    return not query or event_type in wanted.split(",")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: IndependentV5Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, payload: Any = None, extra: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, status: int, reason: str) -> None:
        self._reply(status, {"@type": "Error", "code": f"E{status}", "reason": reason})

    def _parse(self) -> tuple[list[str], list[tuple[str, str]]] | None:
        self.raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if not url.path.startswith(self.app.prefix):
            self._fail(404, "unknown path")
            return None
        return [unquote(p) for p in url.path[len(self.app.prefix):].split("/") if p], parse_qsl(url.query)

    def _json(self) -> Any:
        return json.loads(self.raw)

    @staticmethod
    def _select(item: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if fields is None:
            return item
        keep = set(fields.split(",")) | {"id", "href", "@type"}
        return {k: v for k, v in item.items() if k in keep}

    def do_GET(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        parts, query = parsed
        params = dict(query)
        fields = params.get("fields")
        if fields == "none":
            return self._fail(400, "fields=none is not supported")
        if parts[:1] == ["hub"] and len(parts) == 2:
            with self.app.lock:
                hub = self.app.hubs.get(parts[1])
            return self._reply(200, hub) if hub else self._fail(404, "no such subscription")
        if not parts or parts[0] not in KINDS or len(parts) > 2:
            return self._fail(404, "unknown resource")
        store = self.app.data[parts[0]]
        if len(parts) == 2:
            with self.app.lock:
                item = store.get(parts[1])
            return self._reply(200, self._select(item, fields)) if item else self._fail(404, "not found")
        for name in NOT_OFFERED:
            if name in params:
                return self._fail(400, f"{name} is not supported by this server")
        conditions = {k: v for k, v in query if k not in ("fields", "offset", "limit")}
        for key, value in conditions.items():
            if "." in key or "," in value:
                return self._fail(400, "only attribute=value filters are supported")
        with self.app.lock:
            items = list(reversed(store.values()))
        found = [i for i in items if all(k in i and str(i[k]) == v for k, v in conditions.items())]
        try:
            start = int(params.get("offset", 0))
            size = int(params["limit"]) if "limit" in params else len(found)
        except ValueError:
            return self._fail(400, "offset and limit are integers")
        page = found[start:start + size]
        self._reply(200, [self._select(i, fields) for i in page],
                    {"X-Total-Count": str(len(found)), "X-Result-Count": str(len(page))})

    def do_POST(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        parts, query = parsed
        try:
            body = self._json()
        except ValueError:
            return self._fail(400, "the body is not JSON")
        if parts == ["hub"]:
            return self._subscribe(body)
        if len(parts) != 1 or parts[0] not in KINDS:
            return self._fail(404, "unknown resource")
        kind = KINDS[parts[0]]
        if not isinstance(body, dict):
            return self._fail(400, "a JSON object is expected")
        problem = _check(kind, body, creating=True) or next(
            (f"{k} is set by the server" for k in SERVER_OWNED if k in body), None)
        if problem:
            return self._fail(400, problem)
        fingerprint = _fingerprint(kind, body)
        with self.app.lock:
            twin = self.app.created.get(fingerprint)
            if twin is not None and twin in self.app.data[parts[0]]:
                return self._fail(409, f"this {kind} already exists as {twin}")
            number = str(next(self.app.numbers))
            self.app.created[fingerprint] = number
            now = _now()
            item = {**_kept(body), "id": number, "href": f"{self.app.origin}{self.app.prefix}/{parts[0]}/{number}",
                    "creationDate": now, "lastUpdate": now, "status": "pending", "statusChangeDate": now}
            self.app.data[parts[0]][number] = item
        self.app.notify(f"{kind}CreateEvent", parts[0], item)
        self._reply(201, self._select(item, dict(query).get("fields")),
                    {"Location": f"{self.app.prefix}/{parts[0]}/{number}"})

    def _subscribe(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("callback"), str) or "@type" not in body:
            return self._fail(400, "a Hub needs @type and callback")
        query = body.get("query") or ""
        wanted = parse_qs(query).get("eventType")
        if query and not wanted:
            return self._fail(400, "only eventType=... queries are supported")
        hub_id = uuid.uuid4().hex[:12]
        hub = {"@type": "Hub", "id": hub_id, "callback": body["callback"], "query": query}
        with self.app.lock:
            self.app.hubs[hub_id] = hub
        self._reply(201, hub, {"Location": f"{self.app.prefix}/hub/{hub_id}"})

    def do_PATCH(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        parts, query = parsed
        if len(parts) != 2 or parts[0] not in KINDS:
            return self._fail(404, "unknown resource")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/merge-patch+json":
            return self._fail(415, "only application/merge-patch+json is accepted")
        kind = KINDS[parts[0]]
        with self.app.lock:
            item = self.app.data[parts[0]].get(parts[1])
            if item is None:
                return self._fail(404, "not found")
            try:
                patch = self._json()
            except ValueError:
                return self._fail(400, "the body is not JSON")
            if not isinstance(patch, dict):
                return self._fail(400, "a merge patch object is expected")
            frozen = [k for k in READ_ONLY if k in patch]
            if frozen:
                return self._fail(400, f"read-only: {', '.join(frozen)}")
            problem = _check(kind, {k: v for k, v in patch.items() if v is not None}, creating=False)
            if problem:
                return self._fail(400, problem)
            changed = _merged(item, _kept(patch))
            changed["lastUpdate"] = _now()
            if changed.get("status") != item.get("status"):
                changed["statusChangeDate"] = _now()
            self.app.data[parts[0]][parts[1]] = changed
        if changed.get("status") != item.get("status"):
            self.app.notify(f"{kind}StateChangeEvent", parts[0], changed)
        if any(k not in ("@type", "status", "statusChangeReason") for k in patch):
            self.app.notify(f"{kind}AttributeValueChangeEvent", parts[0], changed)
        self._reply(200, self._select(changed, dict(query).get("fields")))

    def do_DELETE(self) -> None:
        parsed = self._parse()
        if parsed is None:
            return
        parts, _ = parsed
        if parts[:1] == ["hub"] and len(parts) == 2:
            with self.app.lock:
                gone = self.app.hubs.pop(parts[1], None)
            return self._reply(204) if gone else self._fail(404, "no such subscription")
        if len(parts) != 2 or parts[0] not in KINDS:
            return self._fail(404, "unknown resource")
        with self.app.lock:
            item = self.app.data[parts[0]].get(parts[1])
        if item is None:
            return self._fail(404, "not found")
        self.app.later_delete(parts[0], parts[1], f"{KINDS[parts[0]]}DeleteEvent")
        self._reply(202)


class _Server(ThreadingHTTPServer):
    """A listen backlog of a real server's size (socketserver's is 5: a burst of connections beyond it
    waits a second for the client to send its SYN again)."""

    daemon_threads = True
    request_queue_size = 128


class IndependentV5Server:
    """Start with ``with IndependentV5Server() as server: server.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, prefix: str = "/crm/sales-management/v5") -> None:
        self.prefix = prefix.rstrip("/")
        self.data: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in KINDS}
        self.hubs: dict[str, dict[str, Any]] = {}
        self.created: dict[str, str] = {}  # fingerprint of a create body -> the id it created
        self.numbers = itertools.count(5001)
        self.lock = threading.Lock()
        self.httpd = _Server((host, port), type("Handler", (_Handler,), {"app": self}))
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def notify(self, event_type: str, key: str, item: dict[str, Any]) -> None:
        event = {"@type": event_type, "eventId": uuid.uuid4().hex, "eventTime": _now(), "eventType": event_type,
                 "event": {key: dict(item)}}
        with self.lock:
            targets = [h["callback"] for h in self.hubs.values() if _asks_for(h["query"], event_type)]
        for callback in targets:
            threading.Thread(target=self._post, args=(callback, event), daemon=True).start()

    @staticmethod
    def _post(callback: str, event: dict[str, Any]) -> None:
        # a connection of its own per event (a thread of its own too): the other way servers deliver;
        # never through a proxy from the environment, which would not reach the client's listener
        request = urllib.request.Request(callback, data=json.dumps(event).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with _DIRECT.open(request, timeout=3) as answer:
                answer.read()
        except OSError:
            pass

    def later_delete(self, key: str, item_id: str, event_type: str) -> None:
        def remove() -> None:
            with self.lock:
                item = self.data[key].pop(item_id, None)
            if item is not None:
                self.notify(event_type, key, item)

        timer = threading.Timer(DELETE_DELAY, remove)
        timer.daemon = True
        timer.start()

    def __enter__(self) -> IndependentV5Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
