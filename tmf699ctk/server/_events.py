"""Event delivery for the reference server's hub: in the background, with a timeout, never
blocking the API response that caused the event."""

from __future__ import annotations

import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

DELIVERY_TIMEOUT = 3.0


def _wanted(subscription: dict[str, Any], event_type: str) -> bool:
    """``query`` like ``eventType=SalesLeadCreateEvent`` (comma-separated for several) filters."""
    types = parse_qs(subscription.get("query") or "").get("eventType")
    return not types or event_type in {t for value in types for t in value.split(",")}


class EventSender:
    def __init__(self, faults: frozenset[str], to_callback_itself: bool = False) -> None:
        self.faults = faults
        self.to_callback_itself = to_callback_itself  # the other delivery path servers use
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tmf699-events")

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
        request = urllib.request.Request(
            url, data=json.dumps(event).encode(), method="POST",
            headers={"Content-Type": "application/json;charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
                response.read()
        except OSError:
            pass  # a listener that is gone must not disturb the server

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
