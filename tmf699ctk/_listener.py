"""The kit's notification listener: receives the events a server under test sends to its hub
subscribers, and lets scenario steps wait for them.

It binds only the host and port the user configured (loopback and an ephemeral port by default),
accepts POSTs at the callback path and below it (``{callback}/listener/<eventName>``), answers
201, and stops when the run ends. The callback path carries an unguessable per-run token: a POST
anywhere else is answered 404 and kept as unclaimed evidence, with the reason.

Bodies come framed by Content-Length or chunked, and may be gzip or deflate encoded: each is bounded
(MAX_EVENT_BYTES, decoded too), and so is what a run keeps of them all (MAX_KEPT_BYTES, MAX_EVENTS).
A body the listener cannot take is answered 4xx and the connection closed; but for one too large
to take, it is kept as refused evidence, with the reason.
"""

from __future__ import annotations

import io
import secrets
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from . import _safejson
from ._exceptions import ConfigError

MAX_EVENT_BYTES = 1 << 20  # a hostile server must not fill the kit's memory: one body, as sent and decoded
# ... nor with many bodies: what the listener keeps of a run's events in all (bodies and headers), and
# how many; beyond either, an event is kept reduced (see Listener.record), and it says so
MAX_KEPT_BYTES = 64 << 20
MAX_EVENTS = 10_000
KEPT_BODY_CHARS = 256  # of an event kept reduced: the start of its body, and a few of its headers, shortened
KEPT_HEADERS = 16
KEPT_HEADER_CHARS = 128
# a sender that stops sending must not hold a listener thread: each read waits at most READ_TIMEOUT
# (an idle kept-alive connection is closed after it too: clients reopen one, as with any server), and
# a body that trickles in must be whole within BODY_DEADLINE
READ_TIMEOUT = 10.0
BODY_DEADLINE = 60.0
MAX_CHUNK_LINE = 4096  # a chunk-size line, with its extensions
MAX_TRAILERS = 64 * 1024  # the trailer section of a chunked body, in all
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
    # why the event is not judged: answered 404 (not a callback of this run), a body the listener could
    # not take (answered 400, 408 or 501), or one kept reduced beyond the run's bounds (answered as usual)
    refused: str | None = None
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


def _reduced(event: ReceivedEvent, refused: str) -> ReceivedEvent:
    """A small record of ``event``: where and when it came, the start of its body and headers, and
    what it said it was (its type and lead, for the results' list of events no step waited for)."""
    full = event.json()
    summary: dict[str, Any] = {}
    if isinstance(full, dict):
        summary = {k: full[k] for k in ("eventType", "eventId") if isinstance(full.get(k), str)}
    payload = full.get("event") if isinstance(full, dict) else None
    if isinstance(payload, dict):
        for key in ("salesLead", "salesOpportunity"):
            resource = payload.get(key)
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                summary["event"] = {key: {"id": resource["id"]}}
                break
    return ReceivedEvent(
        path=event.path[:KEPT_HEADER_CHARS * 8],
        headers=[(k[:KEPT_HEADER_CHARS], v[:KEPT_HEADER_CHARS]) for k, v in event.headers[:KEPT_HEADERS]],
        body=event.body[:KEPT_BODY_CHARS], received_at=event.received_at, wall_time=event.wall_time,
        refused=refused, _json=summary,
    )


class _Refusal(Exception):
    """A POST whose body the listener cannot take: what it answers (then closes the connection), and
    why (the reason its record carries; a body over the size bound is not recorded, as ever)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _too_large(what: str) -> _Refusal:
    return _Refusal(413, f"{what} larger than {MAX_EVENT_BYTES:,} bytes (answered 413)")


def _inflate(data: bytes, coding: str) -> bytes:
    """``data`` decoded, never more than MAX_EVENT_BYTES of it: a small gzip bomb expands a thousandfold,
    so it is decompressed a bounded piece at a time."""
    if not data:
        return b""
    if coding == "deflate":
        # HTTP's deflate is the zlib format (RFC 9110 8.4.1.2), but some senders send raw deflate
        zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
    else:
        wbits = 16 + zlib.MAX_WBITS
    out = bytearray()
    inflater, pending = zlib.decompressobj(wbits), data
    try:
        while True:
            # max_length is at least 1 here (0 would mean no bound)
            piece = inflater.decompress(pending, MAX_EVENT_BYTES + 1 - len(out))
            out += piece
            if len(out) > MAX_EVENT_BYTES:
                raise _too_large(f"the {coding} body decoded is")
            pending = inflater.unconsumed_tail
            if inflater.eof:
                if not inflater.unused_data:
                    return bytes(out)
                if wbits < 0 or wbits == zlib.MAX_WBITS:
                    raise _Refusal(400, f"the {coding} body has data after its end (answered 400)")
                # gzip allows several members one after the other (RFC 1952 2.2)
                inflater, pending = zlib.decompressobj(wbits), inflater.unused_data
            elif not pending and not piece:
                raise _Refusal(400, f"the {coding} body ends before its compressed data does (answered 400)")
    except zlib.error as exc:
        raise _Refusal(400, f"the {coding} body cannot be decoded: {exc} (answered 400)") from exc


_DECODERS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def _codings(values: list[str] | None) -> list[str]:
    return [c.strip().lower() for value in values or [] for c in value.split(",") if c.strip()]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT  # socketserver sets it on the connection: no read waits forever
    listener: Listener

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:  # the sender reset the connection, or left before the answer: nothing to answer
            self.close_connection = True

    def do_POST(self) -> None:
        try:
            path = urlsplit(self.path).path
        except ValueError:  # e.g. "http://[x/": not a URL, so not this run's callback either
            self._answer(400, close=True)
            return
        try:
            body = self._read_body()
        except _Refusal as refusal:
            if refusal.status != 413:  # the sender's broken framing is evidence: kept, never judged
                self.listener.record(self._event(path, b"", refusal.reason))
            self._answer(refusal.status, close=True)
            return
        finally:
            self.connection.settimeout(self.timeout)
        if not self.listener.accepts(path):
            self.listener.record(self._event(path, body, "not under this run's callback path (answered 404)"))
            self._answer(404, close=self.close_connection)
            return
        self.listener.record(self._event(path, body, None))
        self._answer(self.listener.status, close=self.close_connection)

    def _event(self, path: str, body: bytes, refused: str | None) -> ReceivedEvent:
        return ReceivedEvent(
            path=path, headers=list(self.headers.items()), body=body.decode("utf-8", errors="replace"),
            # to the millisecond, like every other exchange's time (the report orders them by it)
            received_at=time.monotonic(),
            wall_time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            refused=refused,
        )

    def _answer(self, status: int, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    # -- the body: framed by Content-Length or chunked (RFC 9112 6), then content-decoded -------------

    def _read_body(self) -> bytes:
        deadline = time.monotonic() + BODY_DEADLINE
        transfer = _codings(self.headers.get_all("Transfer-Encoding"))
        if self.headers.get_all("Transfer-Encoding") is not None:
            if self.headers.get_all("Content-Length") is not None:
                # RFC 9112 6.3: Transfer-Encoding wins, and the connection is closed after the answer
                # (the two framings disagree about where the next request starts)
                self.close_connection = True
            if not transfer or transfer[-1] != "chunked" or transfer.count("chunked") > 1:
                raise _Refusal(400, f"Transfer-Encoding {', '.join(transfer) or '(empty)'}: the body's end "
                                    "cannot be told without chunked last (answered 400)")
            unknown = [c for c in transfer[:-1] if c not in _DECODERS]
            if unknown:
                raise _Refusal(501, f"transfer coding {unknown[0]} not implemented (answered 501)")
            body = self._read_chunked(deadline)
            for coding in reversed(transfer[:-1]):
                body = _inflate(body, _DECODERS[coding])
        else:
            body = self._read_exact(self._content_length(), deadline)
        content = [c for c in _codings(self.headers.get_all("Content-Encoding")) if c != "identity"]
        if any(c not in _DECODERS for c in content):
            return body  # a coding the kit does not know: kept as received (its header says why)
        for coding in reversed(content):
            body = _inflate(body, _DECODERS[coding])
        return body

    def _content_length(self) -> int:
        values = [v.strip() for header in self.headers.get_all("Content-Length") or ["0"] for v in header.split(",")]
        # 1*DIGIT (RFC 9110 8.6): no sign, no "12abc", no other script's digits; a list of one value
        if not all(v.isascii() and v.isdigit() for v in values) or len({v.lstrip("0") for v in values}) > 1:
            raise _Refusal(400, f"Content-Length {', '.join(values)!r} is not a length (answered 400)")
        digits = values[0].lstrip("0") or "0"
        if len(digits) > len(str(MAX_EVENT_BYTES)) or int(digits) > MAX_EVENT_BYTES:
            raise _too_large("the body is")
        return int(digits)

    @property
    def _stream(self) -> io.BufferedReader:
        return cast(io.BufferedReader, self.rfile)  # socketserver's rfile, buffered (rbufsize -1)

    def _recv(self, read: Callable[[int], bytes], size: int, got: int, deadline: float) -> bytes:
        """One read: waiting no longer than the read timeout, nor past the body's deadline."""
        late = _Refusal(408, f"the body was not whole within {BODY_DEADLINE:g} s, {got:,} bytes in (answered 408)")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise late
        self.connection.settimeout(min(self.timeout, remaining))
        try:
            data = read(size)
        except TimeoutError as exc:
            if time.monotonic() >= deadline:
                raise late from exc
            raise _Refusal(408, f"the body stopped arriving after {got:,} bytes (answered 408)") from exc
        except OSError as exc:
            raise _Refusal(400, f"the connection failed after {got:,} bytes of the body: {exc}") from exc
        if not data:
            raise _Refusal(400, f"the connection closed after {got:,} bytes of the body (answered 400)")
        return data

    def _read_exact(self, length: int, deadline: float, got: int = 0) -> bytes:
        body = bytearray()
        while len(body) < length:
            body += self._recv(self._stream.read1, min(length - len(body), 64 * 1024), got + len(body), deadline)
        return bytes(body)

    def _readline(self, limit: int, got: int, deadline: float) -> bytes:
        line = bytearray()
        while True:
            # peek: at most one read, so that the deadline is checked between them
            buffered = self._recv(self._stream.peek, 1, got, deadline)
            end = buffered.find(b"\n", 0, limit - len(line))
            line += self._stream.read(end + 1 if end >= 0 else min(len(buffered), limit - len(line)))
            if end >= 0:
                return bytes(line)
            if len(line) >= limit:
                raise _Refusal(400, f"a line of the chunked body is longer than {limit:,} bytes (answered 400)")

    def _read_chunked(self, deadline: float) -> bytes:
        """RFC 9112 7.1: chunk-size [; extensions] CRLF, the data, CRLF; a 0 chunk; trailers; CRLF."""
        body = bytearray()
        while True:
            line = self._readline(MAX_CHUNK_LINE, len(body), deadline)
            size = line.split(b";", 1)[0].strip(b" \t\r\n")
            if not size or len(size) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size):
                shown = line[:40].decode("latin-1").rstrip()
                raise _Refusal(400, f"the chunked body has {shown!r} where a chunk size belongs (answered 400)")
            length = int(size, 16)
            if length == 0:
                break
            if len(body) + length > MAX_EVENT_BYTES:
                raise _too_large("the chunked body is")
            body += self._read_exact(length, deadline, len(body))
            end = self._recv(self._stream.read, 1, len(body), deadline)
            if end == b"\r":
                end = self._recv(self._stream.read, 1, len(body), deadline)
            if end != b"\n":
                raise _Refusal(400, f"a chunk of the chunked body is longer than its size, {length:,} bytes "
                                    "(answered 400)")
        trailers = 0
        while (line := self._readline(MAX_CHUNK_LINE, len(body), deadline)) not in (b"\r\n", b"\n"):
            trailers += len(line)  # not kept: a trailer says nothing the checks look at
            if trailers > MAX_TRAILERS:
                raise _Refusal(400, f"the chunked body's trailers exceed {MAX_TRAILERS:,} bytes (answered 400)")
        return bytes(body)


class _ListenerServer(ThreadingHTTPServer):
    # a server may send many events at once (one per subscription and change, each on its own
    # connection): with socketserver's backlog of 5, the sixth is refused and its event lost
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints the traceback on stderr, the user's console in the middle of the run:
        # the handler answers or closes every request it can name, so what is left is a sender gone
        # mid-exchange, and the connection is closed either way
        pass


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
        self._kept = 0  # bytes of the events kept whole (MAX_KEPT_BYTES)
        self._dropped: ReceivedEvent | None = None  # stands for the events beyond MAX_EVENTS
        self._dropped_count = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(POLL,), name="tmf699ctk-listener",
                                        daemon=True)

    def accepts(self, path: str) -> bool:
        return path.rstrip("/") == self.base_path or path.startswith(self.base_path + "/")

    def record(self, event: ReceivedEvent) -> None:
        """Keep ``event``, within the run's bounds: beyond MAX_KEPT_BYTES it is kept reduced, beyond
        MAX_EVENTS one record stands for all the others. Either is refused (never judged: its body is
        not what the server sent) with the reason, which the run's results list among the unclaimed."""
        with self._changed:
            if len(self.events) >= MAX_EVENTS:
                self._dropped_count += 1
                if self._dropped is None:
                    self._dropped = _reduced(event, "")
                    self.events.append(self._dropped)
                self._dropped.refused = (
                    f"not kept: the listener keeps at most {MAX_EVENTS:,} events a run, and "
                    f"{self._dropped_count:,} more came (this is the first of them, each answered as usual)")
                return
            # memory, not characters, as for the responses the run keeps (one emoji is 4 bytes a character)
            cost = sys.getsizeof(event.body) + sum(len(k) + len(v) for k, v in event.headers)
            if self._kept + cost <= MAX_KEPT_BYTES:
                self._kept += cost
            else:
                reason = (f"the listener had kept {MAX_KEPT_BYTES:,} bytes of events this run, so this one's body "
                          f"({len(event.body.encode('utf-8', 'replace')):,} bytes) is kept reduced to its first "
                          f"{KEPT_BODY_CHARS} characters")
                event = _reduced(event, f"{event.refused}; {reason}" if event.refused is not None
                                 else f"not evaluated: {reason} (answered {self.status})")
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
