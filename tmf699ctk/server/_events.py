"""Event delivery for the reference server's hub: in the background, with a timeout, never
blocking the API response that caused the event."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

DELIVERY_TIMEOUT = 3.0
KEPT_PER_THREAD = 4  # listeners a delivery thread keeps a connection to (the least recently used goes)


class _Connections(threading.local):
    """Each delivery thread's open connection per listener (scheme, host, port): kept alive as a
    server's event sender does, instead of one connection, and one listener thread, per event."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str, int], http.client.HTTPConnection] = {}


def post_event(connections: _Connections, url: str, body: bytes, timeout: float = DELIVERY_TIMEOUT) -> None:
    """POST ``body`` to ``url`` (JSON), reusing this thread's connection to that listener; a connection
    the listener closed meanwhile is replaced once. Failures are dropped: a listener that is gone must
    not disturb the server. No proxy from the environment is ever used (the listener is the client's)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if https else 80))
    except ValueError:  # a port that is not a number
        return
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    for attempt in range(2):
        connection = connections.open.pop(key, None)
        reused = connection is not None
        if connection is None:
            connection = (http.client.HTTPSConnection(key[1], key[2], timeout=timeout,
                                                      context=ssl.create_default_context()) if https
                          else http.client.HTTPConnection(key[1], key[2], timeout=timeout))
        try:
            connection.request("POST", target, body=body,
                               headers={"Content-Type": "application/json;charset=utf-8"})
            response = connection.getresponse()
            response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            connection.close()
            if reused and attempt == 0:
                continue  # the listener had closed the idle connection: once more on a new one
            return
        except (OSError, http.client.HTTPException):
            connection.close()
            return
        if response.will_close:
            connection.close()
            return
        while len(connections.open) >= KEPT_PER_THREAD:  # a long-lived server outlives many listeners
            connections.open.pop(next(iter(connections.open))).close()
        connections.open[key] = connection
        return


def _wanted(subscription: dict[str, Any], event_type: str) -> bool:
    """``query`` like ``eventType=SalesLeadCreateEvent`` (comma-separated for several) filters."""
    types = parse_qs(subscription.get("query") or "").get("eventType")
    return not types or event_type in {t for value in types for t in value.split(",")}


class EventSender:
    def __init__(self, faults: frozenset[str], to_callback_itself: bool = False) -> None:
        self.faults = faults
        self.to_callback_itself = to_callback_itself  # the other delivery path servers use
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tmf699-events")
        self.connections = _Connections()

    def publish(self, subscriptions: list[dict[str, Any]], event_type: str, lead: dict[str, Any]) -> None:
        if "events-never-sent" in self.faults:
            return
        event = self._event(event_type, lead)  # one event (one eventId) for every subscription, as servers do
        for subscription in subscriptions:
            if "hub-query-ignored" in self.faults or _wanted(subscription, event_type):
                self.pool.submit(self._deliver, subscription["callback"], event)

    def _event(self, event_type: str, lead: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event: dict[str, Any] = {"eventId": uuid.uuid4().hex, "eventTime": now, "eventType": event_type,
                                 "event": {"salesLead": lead}}
        if "event-wrong-type" in self.faults:
            event["eventType"] = event_type.replace("SalesLead", "Lead")
        if "event-no-payload" in self.faults:
            event["event"] = {}
        if "event-bad-time" in self.faults:
            event["eventTime"] = datetime.now(UTC).strftime("%d.%m.%Y %H:%M")
        if "event-no-id" in self.faults:
            del event["eventId"]
        if "event-time-future" in self.faults:
            ahead = datetime.now(UTC) + timedelta(hours=1)
            event["eventTime"] = ahead.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return event

    def _deliver(self, callback: str, event: dict[str, Any]) -> None:
        name = event["eventType"][0].lower() + event["eventType"][1:]
        url = callback if self.to_callback_itself else f"{callback.rstrip('/')}/listener/{name}"
        post_event(self.connections, url, json.dumps(event).encode())

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
