"""A second, independently written TMF699 v4 server: conformant, but unlike the reference one.

It shares no code with the reference server, the kit's schemas or its checks (it validates
with its own hand-written rules), so that the kit is not tuned to one implementation. It differs
wherever the spec leaves room:

- ids are sequential numbers ("1001"), lists are newest first;
- timestamps have 1-second resolution and a ``+00:00`` offset; the date-times a client sends are
  stored as the same instants in Central European Time (``+01:00``);
- the items of arrays (notes, parties, contact media) come back in another order than sent;
- ``Content-Type: application/json`` without charset; a relative ``Location``; 200 for every
  page, partial or not; extra attributes (``@type``, ``@baseType``, ``salesChannelCode``);
- a second POST of a body it has already created a lead from is refused with 409;
- optional features are declined: ``fields=none`` (400), OR filters (400), date operators (400),
  sorting (400), PATCH with ``application/json`` (415), and the hub (404).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

PRIORITIES = {"low", "medium", "high"}
STATES = {"accepted", "acknowledged", "cancelled", "inProgress", "pending", "rejected"}
TEXT = {"name", "description", "rating", "type", "statusChangeReason", "@type", "@baseType"}
DATES = {"referredDate"}
NEVER_WRITABLE = {"id", "href", "creationDate"}
FILTERABLE = {"id", "name", "status", "creationDate", "statusChangeDate", "priority", "rating", "type"}


CET = timezone(timedelta(hours=1))
ARRAYS = ("note", "relatedParty", "prospectContact")


def _timestamp() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _local_times(value: Any) -> Any:
    """Client date-times re-expressed in this server's zone: the same instants, written otherwise."""
    if isinstance(value, dict):
        return {k: _local_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_local_times(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(CET).isoformat()
    return value


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    """How this server keeps what it is sent: arrays in its own (reversed) order, its own zone."""
    kept: dict[str, Any] = _local_times(body)
    for name in ARRAYS:
        if isinstance(kept.get(name), list):
            kept[name] = list(reversed(kept[name]))
    return kept


def _apply(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """JSON Merge Patch (RFC 7396), this server's own implementation."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    for key, change in changes.items():
        if change is None:
            result.pop(key, None)
        elif isinstance(change, dict) and isinstance(result.get(key), dict):
            result[key] = _apply(result[key], change)
        elif isinstance(change, dict):
            result[key] = _apply({}, change)
        else:
            result[key] = json.loads(json.dumps(change))
    return result


def _problem(body: dict[str, Any], creating: bool) -> str | None:
    """This server's own validation of SalesLead_Create / SalesLead_Update."""
    if creating and not isinstance(body.get("name"), str):
        return "name is mandatory and must be a string"
    for key, value in body.items():
        if value is None:
            continue
        if key in TEXT and not isinstance(value, str):
            return f"{key} must be a string"
        if key == "priority" and value not in PRIORITIES:
            return f"priority must be one of {sorted(PRIORITIES)}"
        if key == "status" and value not in STATES:
            return f"unknown status {value!r}"
        if key in DATES | {"statusChangeDate"}:
            try:
                datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                return f"{key} must be an RFC 3339 date-time"
        if key == "estimatedRevenue":
            amount = value.get("value") if isinstance(value, dict) else None
            if not isinstance(value, dict) or (amount is not None and not isinstance(amount, int | float)):
                return "estimatedRevenue.value must be a number"
        if key in ("relatedParty", "note", "prospectContact") and not isinstance(value, list):
            return f"{key} must be an array"
        if key == "relatedParty" and any(not isinstance(p, dict) or "id" not in p or "@referredType" not in p
                                         for p in value):
            return "every relatedParty needs id and @referredType"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: IndependentServer

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
        self._reply(status, {"code": f"ERR{status}", "reason": reason, "@type": "Error"})

    def _body(self) -> Any:
        return json.loads(self.raw)

    def _route(self) -> tuple[list[str], list[tuple[str, str]]] | None:
        # read the body first, whatever the answer: unread bytes would corrupt the next request
        self.raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        prefix = self.app.prefix
        if not url.path.startswith(prefix):
            self._fail(404, "unknown path")
            return None
        return [unquote(p) for p in url.path[len(prefix):].split("/") if p], parse_qsl(url.query)

    def _view(self, lead: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return lead
        keep = set(fields.split(",")) | {"id", "href", "@type"}
        return {k: v for k, v in lead.items() if k in keep}

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, query = route
        params = dict(query)
        fields = params.get("fields")
        if fields == "none":
            return self._fail(400, "fields=none is not supported")
        if parts == ["salesLead"]:
            conditions = {k: v for k, v in query if k not in ("fields", "offset", "limit")}  # sort: refused below
            for key, value in conditions.items():
                if key not in FILTERABLE:
                    return self._fail(400, f"cannot filter on {key}")
                if "," in value:
                    return self._fail(400, "OR filters are not supported")
            with self.app.lock:
                leads = list(reversed(self.app.leads.values()))
            matching = [lead for lead in leads if all(str(lead.get(k)) == v for k, v in conditions.items())]
            try:
                start = int(params.get("offset", 0))
                count = int(params["limit"]) if "limit" in params else len(matching)
            except ValueError:
                return self._fail(400, "offset and limit are integers")
            page = matching[start:start + count]
            return self._reply(200, [self._view(lead, fields) for lead in page],
                               {"X-Total-Count": str(len(matching)), "X-Result-Count": str(len(page))})
        if len(parts) == 2 and parts[0] == "salesLead":
            lead = self.app.leads.get(parts[1])
            if lead is None:
                return self._fail(404, "no such sales lead")
            return self._reply(200, self._view(lead, fields))
        self._fail(404, "unknown resource")

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, _ = route
        if parts != ["salesLead"]:
            return self._fail(404, "unknown resource")  # no hub: notifications are not offered
        try:
            body = self._body()
        except ValueError:
            return self._fail(400, "malformed JSON")
        if not isinstance(body, dict):
            return self._fail(400, "a SalesLead_Create object is expected")
        problem = _problem(body, creating=True) or (
            "id, href and dates are set by the server" if NEVER_WRITABLE & body.keys() else None)
        if problem:
            return self._fail(400, problem)
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.app.lock:
            if fingerprint in self.app.created:
                return self._fail(409, f"this lead was already created as {self.app.created[fingerprint]}")
            lead_id = str(next(self.app.ids))
            now = _timestamp()
            lead = {"@type": "SalesLead", "@baseType": "SalesLead", "salesChannelCode": "WEB", **_stored(body),
                    "id": lead_id, "href": f"{self.app.origin}{self.app.prefix}/salesLead/{lead_id}",
                    "creationDate": now, "status": "pending", "statusChangeDate": now}
            self.app.leads[lead_id] = lead
            self.app.created[fingerprint] = lead_id
        self._reply(201, lead, {"Location": f"{self.app.prefix}/salesLead/{lead_id}"})

    def do_PATCH(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, _ = route
        if len(parts) != 2 or parts[0] != "salesLead":
            return self._fail(404, "unknown resource")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/merge-patch+json":
            return self._fail(415, "only application/merge-patch+json is accepted")
        with self.app.lock:
            lead = self.app.leads.get(parts[1])
            if lead is None:
                return self._fail(404, "no such sales lead")
            try:
                patch = self._body()
            except ValueError:
                return self._fail(400, "malformed JSON")
            if not isinstance(patch, dict):
                return self._fail(400, "a merge patch object is expected")
            if NEVER_WRITABLE & patch.keys():
                return self._fail(400, f"read-only: {', '.join(sorted(NEVER_WRITABLE & patch.keys()))}")
            problem = _problem(patch, creating=False)
            if problem:
                return self._fail(400, problem)
            updated = _apply(lead, _local_times(patch))
            if updated.get("status") != lead.get("status"):
                updated["statusChangeDate"] = _timestamp()
            self.app.leads[parts[1]] = updated
        self._reply(200, updated)

    def do_DELETE(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, _ = route
        if len(parts) != 2 or parts[0] != "salesLead":
            return self._fail(404, "unknown resource")
        with self.app.lock:
            if self.app.leads.pop(parts[1], None) is None:
                return self._fail(404, "no such sales lead")
        self._reply(204)


class _Server(ThreadingHTTPServer):
    """A listen backlog of a real server's size (socketserver's is 5: a burst of connections beyond it
    waits a second for the client to send its SYN again)."""

    daemon_threads = True
    request_queue_size = 128


class IndependentServer:
    """Start with ``with IndependentServer() as server: server.url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, prefix: str = "/crm/tmf699/v4") -> None:
        self.prefix = prefix.rstrip("/")
        self.leads: dict[str, dict[str, Any]] = {}
        self.created: dict[str, str] = {}  # fingerprint of a create body -> the lead it created
        self.ids = itertools.count(1001)
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = _Server((host, port), handler)
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    def __enter__(self) -> IndependentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
