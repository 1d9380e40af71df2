"""The notification listener against hostile and unusual senders, over real sockets: chunked and
compressed bodies, lengths that are not lengths, floods, and senders that break off or stall."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tmf699ctk import _listener
from tmf699ctk._listener import MAX_EVENT_BYTES, Listener, ReceivedEvent

from .conftest import run_suite

EVENT = json.dumps({"eventId": "e-1", "eventType": "SalesLeadCreateEvent",
                    "event": {"salesLead": {"id": "lead-1"}}}).encode()


@pytest.fixture
def listener(capfd: pytest.CaptureFixture[str]) -> Iterator[Listener]:
    """A real listener; when the test is over, nothing it did may have printed a traceback."""
    with Listener("127.0.0.1", 0) as running:
        yield running
    assert "Traceback" not in capfd.readouterr().err


def _target(listener: Listener) -> str:
    return urlsplit(listener.callback_url).path


def _address(listener: Listener) -> tuple[str, int]:
    host, port = listener.listen.rsplit(":", 1)
    return host, int(port)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the listener answers until it closes the connection (a socket timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _send(listener: Listener, raw: bytes, half_close: bool = False) -> list[int]:
    """Send ``raw`` on one connection and return the statuses answered before the listener closed it."""
    with socket.create_connection(_address(listener), timeout=30) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return [int(s) for s in re.findall(rb"HTTP/1\.[01] (\d{3})", _until_closed(sock))]


def _head(listener: Listener, *headers: str, path: str | None = None) -> bytes:
    lines = [f"POST {path or _target(listener)} HTTP/1.1", "Host: kit", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _accepted(listener: Listener) -> list[ReceivedEvent]:
    return [e for e in listener.events if e.refused is None]


def test_a_chunked_event_is_recorded_whole_and_the_connection_goes_on(listener: Listener) -> None:
    """What Java, Netty and Go clients send: chunk sizes in hex, with extensions, trailers, a 0
    chunk. The listener recorded an empty body, and took the chunks for the next request (400)."""
    chunks = b"".join(b"%x%s\r\n%s\r\n" % (len(part), b";name=value" if i == 1 else b"", part)
                      for i, part in enumerate((EVENT[:7], EVENT[7:40], EVENT[40:])))
    chunked = _head(listener, "Content-Type: application/json", "Transfer-Encoding: chunked") \
        + chunks + b"0\r\nX-Checksum: abc\r\n\r\n"
    then = _head(listener, f"Content-Length: {len(EVENT)}", "Connection: close") + EVENT
    assert _send(listener, chunked + then) == [201, 201]
    # as http.client sends a body it cannot size
    connection = http.client.HTTPConnection(*_address(listener), timeout=30)
    connection.request("POST", _target(listener) + "/listener/salesLeadCreateEvent",
                       body=iter([EVENT[:10], EVENT[10:]]), encode_chunked=True)
    assert connection.getresponse().status == 201
    connection.close()
    assert [e.body for e in _accepted(listener)] == [EVENT.decode()] * 3
    assert listener.events[0].lead_id() == "lead-1"


def test_a_chunked_body_beyond_the_bound_is_refused(listener: Listener) -> None:
    huge = _head(listener, "Transfer-Encoding: chunked") + b"%x\r\n" % (MAX_EVENT_BYTES + 1) + b"{}"
    assert _send(listener, huge) == [413]
    split = _head(listener, "Transfer-Encoding: chunked") + b"4\r\n{}{}\r\n%x\r\n" % MAX_EVENT_BYTES
    assert _send(listener, split) == [413]
    assert listener.events == []  # as a Content-Length beyond the bound: not kept


@pytest.mark.parametrize("framing, body, half_close", [
    ("chunked", b"zz\r\n{}\r\n0\r\n\r\n", False),  # not hex
    ("chunked", b"0x2\r\n{}\r\n0\r\n\r\n", False),
    ("chunked", b"-2\r\n{}\r\n0\r\n\r\n", False),
    ("chunked", b"2\r\n{}xx\r\n0\r\n\r\n", False),  # a chunk longer than its size
    ("chunked", b"2\r\n{}\r\n", True),  # the connection ends before the 0 chunk
    ("gzip", b"{}", False),  # chunked is not last: where the body ends cannot be told
    ("chunked, chunked", b"2\r\n{}\r\n0\r\n\r\n", False),
])
def test_a_malformed_chunked_body_is_answered_400_and_kept_only_as_refused(
        listener: Listener, framing: str, body: bytes, half_close: bool) -> None:
    raw = _head(listener, f"Transfer-Encoding: {framing}") + body
    assert _send(listener, raw, half_close=half_close) == [400]  # and closed: _send read to the end
    assert _accepted(listener) == []
    assert [bool(e.refused and "answered 400" in e.refused) for e in listener.events] == [True]
    assert listener.wait_for(lambda events: events[0] if events else None, 0) is None


def test_gzip_and_deflate_bodies_are_recorded_decoded(listener: Listener) -> None:
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    sent = {
        "gzip": gzip.compress(EVENT),
        "x-gzip": gzip.compress(EVENT),
        "deflate": zlib.compress(EVENT),  # the zlib format, as RFC 9110 says
        "Deflate": raw_deflate.compress(EVENT) + raw_deflate.flush(),  # raw, as some senders do
        "gzip, deflate": zlib.compress(gzip.compress(EVENT)),  # applied in that order
        "identity, gzip": gzip.compress(EVENT[:20]) + gzip.compress(EVENT[20:]),  # two gzip members
    }
    for coding, content in sent.items():
        answer = httpx.post(listener.callback_url, content=content, headers={"Content-Encoding": coding})
        assert answer.status_code == 201, coding
    with socket.create_connection(_address(listener), timeout=30) as sock:  # chunked and gzip
        packed = gzip.compress(EVENT)
        sock.sendall(_head(listener, "Transfer-Encoding: chunked", "Content-Encoding: gzip", "Connection: close")
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed))
        assert _until_closed(sock).startswith(b"HTTP/1.1 201")
    assert [e.body for e in _accepted(listener)] == [EVENT.decode()] * (len(sent) + 1)
    # a coding the kit does not know: the body as received, not a crash
    unknown = httpx.post(listener.callback_url, content=b"\x8b\x00{}", headers={"Content-Encoding": "br"})
    assert unknown.status_code == 201
    assert listener.events[-1].body == b"\x8b\x00{}".decode("utf-8", errors="replace")


def test_a_gzip_bomb_is_refused_without_expanding(listener: Listener) -> None:
    bomb = gzip.compress(b"\0" * (64 * MAX_EVENT_BYTES))  # ~64 KiB that decode to 64 MiB
    tracemalloc.start()
    try:
        answer = httpx.post(listener.callback_url, content=bomb, headers={"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and answer.headers["connection"] == "close"
    assert peak < 8 * MAX_EVENT_BYTES  # the listener decoded at most its bound, not 64 MiB
    assert listener.events == []
    # at the bound exactly, it is taken; a body that is not gzip is refused, and kept as such
    at_bound = httpx.post(listener.callback_url, content=gzip.compress(b" " * MAX_EVENT_BYTES),
                          headers={"Content-Encoding": "gzip"})
    assert at_bound.status_code == 201 and len(listener.events[0].body) == MAX_EVENT_BYTES
    corrupt = httpx.post(listener.callback_url, content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert corrupt.status_code == 400
    truncated = httpx.post(listener.callback_url, content=gzip.compress(EVENT)[:-12],
                           headers={"Content-Encoding": "gzip"})
    assert truncated.status_code == 400
    assert [e.refused is not None for e in listener.events] == [False, True, True]


@pytest.mark.parametrize("length", ["-1", "12abc", "+2", "2, 3", "\xb2", ""])
def test_a_content_length_that_is_not_a_length_is_answered_400(listener: Listener, length: str) -> None:
    """-1 made the listener read to the end of the connection (past MAX_EVENT_BYTES: 872 MiB);
    12abc raised ValueError, and socketserver printed its traceback on the kit's stderr."""
    with socket.create_connection(_address(listener), timeout=30) as sock:
        sock.sendall(_head(listener, f"Content-Length: {length}") + b"{}")
        # not half-closed: the listener must answer without waiting for the end of the connection
        assert _until_closed(sock).startswith(b"HTTP/1.1 400")
    assert _accepted(listener) == []
    assert len(listener.events) == 1 and "Content-Length" in str(listener.events[0].refused)


def test_content_length_and_chunked_together_chunked_wins_and_the_connection_closes(listener: Listener) -> None:
    raw = _head(listener, "Content-Length: 3", "Transfer-Encoding: chunked") \
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
    with socket.create_connection(_address(listener), timeout=30) as sock:
        sock.sendall(raw)  # no Connection: close: the listener closes it all the same
        answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 201") and b"Connection: close" in answer
    assert [e.body for e in _accepted(listener)] == [EVENT.decode()]


def test_events_beyond_the_runs_bounds_are_kept_reduced_and_say_so(
        listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _listener.MAX_KEPT_BYTES <= 64 << 20 and _listener.MAX_EVENTS <= 10_000
    monkeypatch.setattr(_listener, "MAX_KEPT_BYTES", 8 * 1024)
    monkeypatch.setattr(_listener, "MAX_EVENTS", 6)
    large = json.dumps({"eventType": "SalesLeadCreateEvent", "event": {"salesLead": {"id": "big"}},
                        "padding": "x" * 6000}).encode()
    with httpx.Client() as client:
        statuses = [client.post(listener.callback_url, content=body).status_code
                    for body in (EVENT, large, large, EVENT)]
        elsewhere = listener.callback_url.rsplit("/", 1)[0] + "/guess"
        statuses += [client.post(elsewhere, content=large).status_code]
        statuses += [client.post(listener.callback_url, content=EVENT).status_code for _ in range(4)]
    assert statuses == [201] * 4 + [404] + [201] * 4  # answered as ever
    events = listener.events
    assert len(events) == 7  # six kept, one standing for the three beyond the count
    assert [e.refused is None for e in events[:4]] == [True, True, False, True]
    reduced = events[2]
    assert len(reduced.body) <= _listener.KEPT_BODY_CHARS and "kept reduced" in str(reduced.refused)
    assert "answered 201" in str(reduced.refused)
    # what the results list of an unclaimed event (its type, lead), still told
    assert (reduced.event_type(), reduced.lead_id()) == ("SalesLeadCreateEvent", "big")
    assert events[4].refused is not None and events[4].refused.startswith("not under this run's callback path")
    assert "kept reduced" in events[4].refused
    assert "3 more came" in str(events[6].refused)
    # a reduced event is never judged: a wait does not find it
    assert listener.wait_for(lambda es: next((e for e in es if e.lead_id() == "big"), None), 0) is events[1]
    assert listener.wait_for(lambda es: next((e for e in es if e.lead_id() == "big" and not e.claimed), None),
                             0) is None


def test_the_runs_results_say_that_events_were_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_listener, "MAX_EVENTS", 1)
    # the events past the first are not kept, so the steps waiting for them wait out a short bound
    result = run_suite(tmp_path, embedded=True, only=["FULL-NOTIFICATIONS"], **{"notifications.event_timeout": 0.3})
    assert result.notifications is not None
    reasons = [e["reason"] for e in result.notifications["unclaimed"]]
    assert any("not kept: the listener keeps at most 1 events a run" in r for r in reasons), reasons


def test_requests_the_listener_cannot_parse_get_a_clean_answer(listener: Listener) -> None:
    """None may raise in the listener: socketserver prints the traceback on the kit's stderr."""
    cases = [
        (_head(listener, "Content-Length: 0", path="http://[oops/x"), b"HTTP/1.1 400"),  # urlsplit raised
        (b"GARBAGE\r\n\r\n", b"<title>Error response</title>"),  # HTTP/0.9: the page, no status line
        (b"POST /x HTTP/9.9\r\n\r\n", b"505 - Cannot fulfill request"),
        (_head(listener, "Content-Length: 0", "no colon here"), b"HTTP/1.1 "),  # what http.client makes of it
        (_head(listener, "X-Long: " + "a" * 70_000), b"HTTP/1.1 431"),
        (_head(listener, *[f"X-{i}: {i}" for i in range(120)]), b"HTTP/1.1 431"),
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 501"),
    ]
    for raw, answer in cases:
        with socket.create_connection(_address(listener), timeout=30) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            assert answer in _until_closed(sock), raw[:40]
    # a sender that resets the connection before the answer
    for _ in range(20):
        sock = socket.create_connection(_address(listener), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(_head(listener, f"Content-Length: {len(EVENT)}") + EVENT)
        sock.close()
    # the fixture looks for a traceback once the listener's threads are done with them
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any("process_request" in t.name for t in threading.enumerate()):
        time.sleep(0.05)


def test_a_body_shorter_than_its_content_length_is_not_taken_for_the_event(listener: Listener) -> None:
    raw = _head(listener, f"Content-Length: {len(EVENT) + 100}") + EVENT
    assert _send(listener, raw, half_close=True) == [400]
    assert _accepted(listener) == []
    assert f"closed after {len(EVENT)} bytes" in str(listener.events[0].refused)


def test_a_sender_that_stops_sending_does_not_hold_a_thread(listener: Listener,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert _listener.READ_TIMEOUT <= 15
    monkeypatch.setattr(_listener._Handler, "timeout", 1.0)  # the read timeout, shortened for the test
    started = time.monotonic()
    silent = socket.create_connection(_address(listener), timeout=30)  # connects, sends nothing
    half_line = socket.create_connection(_address(listener), timeout=30)
    half_line.sendall(b"POST /callback HT")
    no_body = socket.create_connection(_address(listener), timeout=30)
    no_body.sendall(_head(listener, "Content-Length: 10"))
    no_chunk = socket.create_connection(_address(listener), timeout=30)
    no_chunk.sendall(_head(listener, "Transfer-Encoding: chunked") + b"a\r\n{")
    answers = []
    for sock in (silent, half_line, no_body, no_chunk):
        with sock:
            answers.append(_until_closed(sock)[:12])  # socket.timeout if the listener waits on
    assert time.monotonic() - started < 30
    assert answers[2:] == [b"HTTP/1.1 408"] * 2
    assert [e.refused is not None and "stopped arriving" in e.refused for e in listener.events] == [True, True]


def test_a_body_that_trickles_in_is_cut_at_the_deadline(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_listener, "BODY_DEADLINE", 1.0)
    with socket.create_connection(_address(listener), timeout=30) as sock:
        sock.sendall(_head(listener, "Content-Length: 1000"))
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.2):
                try:
                    sock.sendall(b" ")
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            answer = _until_closed(sock)
        finally:
            stop.set()
            sender.join()
    assert answer.startswith(b"HTTP/1.1 408")
    assert "not whole within" in str(listener.events[0].refused)
