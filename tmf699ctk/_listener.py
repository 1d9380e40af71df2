"""The kit's notification listener: receives the events a server under test sends to its hub
subscribers, and lets scenario steps wait for them.

It binds only the host and port the user configured (loopback and an ephemeral port by default),
accepts POSTs at the callback path and below it (``{callback}/listener/<eventName>``), answers
201, and stops when the run ends. The callback path carries an unguessable per-run token: a POST
anywhere else is answered 404 and kept as unclaimed evidence, with the reason.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import _safejson
from ._exceptions import ConfigError

MAX_EVENT_BYTES = 1 << 20  # a hostile server must not fill the kit's memory
DEFAULT_PATH = "/callback"
POLL = 0.05  # seconds between shutdown checks: stopping the listener ends the run, so keep it short


@dataclass
class ReceivedEvent:
    path: str
    headers: list[tuple[str, str]]
    body: str
    received_at: float  # time.monotonic()
    wall_time: str
    claimed: bool = False
    refused: str | None = None  # why the listener answered 404 (not a callback of this run)
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        if self._json is None:
            try:
                self._json = _safejson.loads(self.body)
            except ValueError:  # not JSON, or nested too deep: no event type or lead to match on
                self._json = {}
        return self._json

    @property
    def name(self) -> str | None:
        """The event name from the path (``.../listener/salesLeadCreateEvent``), if posted there."""
        _, sep, tail = self.path.rstrip("/").rpartition("/listener/")
        return tail if sep and "/" not in tail else None

    def event_type(self) -> str | None:
        body = self.json()
        value = body.get("eventType") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    def lead_id(self) -> Any:
        """The id of the resource the event carries (event.salesLead, or v5's event.salesOpportunity)."""
        body = self.json()
        event = body.get("event") if isinstance(body, dict) else None
        if not isinstance(event, dict):
            return None
        payload = event.get("salesLead", event.get("salesOpportunity"))
        return payload.get("id") if isinstance(payload, dict) else None

    def event_id(self) -> str | None:
        body = self.json()
        value = body.get("eventId") if isinstance(body, dict) else None
        return value if isinstance(value, str) and value else None

    def is_type(self, event_type: str) -> bool:
        lowered = event_type[0].lower() + event_type[1:]
        return self.name == lowered or self.event_type() == event_type


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    listener: Listener

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_EVENT_BYTES:
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        event = ReceivedEvent(
            path=path, headers=list(self.headers.items()), body=body.decode("utf-8", errors="replace"),
            # to the millisecond, like every other exchange's time (the report orders them by it)
            received_at=time.monotonic(),
            wall_time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        if not self.listener.accepts(path):
            event.refused = "not under this run's callback path (answered 404)"
            self.listener.record(event)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.listener.record(event)
        self.send_response(self.listener.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _ListenerServer(ThreadingHTTPServer):
    # a server may send many events at once (one per subscription and change, each on its own
    # connection): with socketserver's backlog of 5, the sixth is refused and its event lost
    request_queue_size = 128


class Listener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, callback_url: str | None = None,
                 status: int = 201) -> None:
        """``status``: what the listener answers a notification (v4's listeners 201, v5's 204)."""
        self.status = status
        handler = type("ListenerHandler", (_Handler,), {"listener": self})
        try:
            self.httpd = _ListenerServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(f"the notification listener cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.httpd.daemon_threads = True
        bound_host, bound_port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        token = secrets.token_urlsafe(12)
        self.callback_url = (callback_url or f"http://{shown}:{bound_port}{DEFAULT_PATH}").rstrip("/") + f"/{token}"
        self.base_path = urlsplit(self.callback_url).path.rstrip("/")
        self.listen = f"{bound_host}:{bound_port}"
        self.events: list[ReceivedEvent] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(POLL,), name="tmf699ctk-listener",
                                        daemon=True)

    def accepts(self, path: str) -> bool:
        return path.rstrip("/") == self.base_path or path.startswith(self.base_path + "/")

    def record(self, event: ReceivedEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(
        self, pick: Callable[[list[ReceivedEvent]], ReceivedEvent | None], timeout: float,
        stop: threading.Event | None = None,
    ) -> ReceivedEvent | None:
        """Wait until ``pick`` finds an event among those received (it is marked claimed), the
        timeout passes, or ``stop`` is set (the run was interrupted)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = pick([e for e in self.events if e.refused is None])
                if found is not None:
                    found.claimed = True
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop is not None and stop.is_set()):
                    return None
                self._changed.wait(min(remaining, 0.1) if stop is not None else remaining)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:0")
    return host.strip("[]") or "127.0.0.1", int(port)
