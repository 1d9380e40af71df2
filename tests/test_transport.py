"""The run's HTTP transport: TLS material is loaded only where a TLS connection can happen."""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tmf699ctk._http import build_client
from tmf699ctk._results import Exchange
from tmf699ctk._settings import build_settings

from .servers import LoopbackServer


def _context(base_url: str, **cli: object) -> ssl.SSLContext:
    settings = build_settings({"target.base_url": base_url, **cli}, env={})
    client = build_client(settings.target)
    try:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert isinstance(context, ssl.SSLContext)
        return context
    finally:
        client.close()


def test_a_plain_http_target_loads_no_ca_bundle() -> None:
    # the kit sends nothing outside the base URL and follows no redirect: no TLS, nothing to verify
    context = _context("http://127.0.0.1:1/tmf-api/sales/v4")
    assert context.cert_store_stats()["x509_ca"] == 0


@pytest.mark.parametrize(("base_url", "cli"), [
    ("https://127.0.0.1:1/tmf-api/sales/v4", {}),
    ("http://127.0.0.1:1/tmf-api/sales/v4", {"target.proxy": "https://127.0.0.1:2"}),
])
def test_a_target_reached_over_tls_is_verified_against_the_ca_bundle(base_url: str, cli: dict[str, object]) -> None:
    context = _context(base_url, **cli)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.cert_store_stats()["x509_ca"] > 0


def test_an_exchange_sent_while_another_waits_hands_the_deadline_back() -> None:
    """A dropped POST's lookup by name is an exchange inside the POST's: once it is over, the
    POST's own deadline governs the thread's connections again (not none at all)."""
    from tmf699ctk import _http

    with _http._watching(5.0, None) as outer:
        with _http._watching(1.0, None) as inner:
            assert _http._current.watch is inner
        assert _http._current.watch is outer
    assert _http._current.watch is None


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, b'{"ok": true}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(port: int) -> ThreadingHTTPServer:
    server = LoopbackServer(("127.0.0.1", port), _Ok)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def _counting_server(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, list[object], str]:
    """A loopback server, the connections it has accepted, and its salesLead URL."""
    accepted: list[object] = []

    class Counting(LoopbackServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            request = super().get_request()
            accepted.append(request)
            return request

    server = Counting(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, accepted, f"http://127.0.0.1:{server.server_address[1]}/api/salesLead"


def test_a_connection_refused_mid_run_is_tried_again_and_a_target_that_never_answered_is_not() -> None:
    """A target that has answered may refuse a connection while it restarts: nothing was sent, so even
    a POST connects again after a short pause (said in the record). A target that never answered is
    unreachable at once."""
    from tmf699ctk._http import TargetHealth, send

    server = _serve(0)
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/api/salesLead"
    health = TargetHealth()
    with httpx.Client() as client:
        first = send(client, "POST", url, health=health, json_body={"name": "a"}, timeout=5,
                     headers={"Connection": "close"})  # no connection kept: the next one is new
        assert first.response is not None and first.response.status == 201 and health.answered
        server.shutdown()
        server.server_close()  # nothing listens: a connection is refused
        restarted: list[ThreadingHTTPServer] = []
        # back on the same port before the pause is over (well before it, on a busy machine too)
        restart = threading.Timer(0.05, lambda: restarted.append(_serve(port)))
        restart.start()
        try:
            again = send(client, "POST", url, health=health, json_body={"name": "b"}, timeout=5,
                         headers={"Connection": "close"})
        finally:
            restart.join()
            for s in restarted:
                s.shutdown()
                s.server_close()
        assert again.response is not None and again.response.status == 201, again.error
        assert "connection was refused" in (again.retried or "") and health.unreachable is None

        fresh = TargetHealth()
        never = send(client, "POST", url, health=fresh, json_body={"name": "c"}, timeout=5)
    assert never.response is None and "connection refused" in (never.error or "")
    assert never.retried is None and fresh.unreachable is not None


def test_a_connection_is_never_closed_for_its_age_only_when_the_server_closed_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore closes a connection idle past its keep-alive expiry outside its lock, and so could
    close one just handed to another thread's request ('ReadError: Bad file descriptor' on a GET in
    a run whose connections sat idle through a 202 polling bound). The run's client keeps its
    connections whatever their idle time: an hour later the same connection serves the next request."""
    import httpcore._sync.http11 as http11

    from tmf699ctk._http import TargetHealth, send

    server, accepted, url = _counting_server(_Ok)
    settings = build_settings({"target.base_url": url}, env={})
    client = build_client(settings.target)
    try:
        health = TargetHealth()
        first = send(client, "POST", url, health=health, json_body={"name": "a"}, timeout=5)
        real = http11.time.monotonic
        monkeypatch.setattr(http11.time, "monotonic", lambda: real() + 3600)
        later = send(client, "POST", url, health=health, json_body={"name": "b"}, timeout=5)
    finally:
        monkeypatch.undo()
        client.close()
        server.shutdown()
        server.server_close()
    assert first.response is not None and later.response is not None and later.response.status == 201
    assert len(accepted) == 1  # one connection for both


def test_a_connection_closed_under_a_request_counts_as_closed_by_the_server() -> None:
    """EBADF on a read or write: the connection was closed under the request (a pool's close racing
    its reuse). It is sent again as a connection the server closed would be (an idempotent request
    at once, a POST once proved not applied); a timeout or another error is not."""
    from tmf699ctk._http import _may_resend, _Watch

    def failed(cause: OSError, kind: type[httpx.TransportError]) -> httpx.TransportError:
        try:
            try:
                raise cause
            except OSError as exc:
                raise kind(str(exc)) from exc
        except httpx.TransportError as outer:
            return outer

    watch = _Watch(5.0, None)
    assert _may_resend(failed(OSError(9, "Bad file descriptor"), httpx.ReadError), 0, watch)
    assert _may_resend(failed(OSError(9, "Bad file descriptor"), httpx.WriteError), 0, watch)
    assert not _may_resend(failed(OSError(9, "Bad file descriptor"), httpx.ReadError), 2, watch)  # retries spent
    assert not _may_resend(failed(OSError(13, "Permission denied"), httpx.ReadError), 0, watch)
    assert not _may_resend(failed(TimeoutError("timed out"), httpx.ReadTimeout), 0, watch)


def test_a_request_never_waits_for_a_connection_however_many_are_in_flight() -> None:
    """httpcore's pool, once full, closes an idle connection to make room, after releasing its lock:
    one it had just handed to another thread's request ('ReadError: Bad file descriptor', blamed on the
    server). The run's client has no connection limit: 60 requests held by the server until all 60
    have arrived are all answered (with a limit, some would wait for a connection that never frees)."""
    from concurrent.futures import ThreadPoolExecutor

    from tmf699ctk._http import TargetHealth, send

    arrived = threading.Barrier(60, timeout=20)

    class Held(_Ok):
        def do_POST(self) -> None:
            arrived.wait()  # a BrokenBarrierError here would leave a request unanswered
            super().do_POST()

    server = LoopbackServer(("127.0.0.1", 0), Held)  # its backlog queues 60 connects at once
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/salesLead"
    client = build_client(build_settings({"target.base_url": url}, env={}).target)
    health = TargetHealth()
    try:
        with ThreadPoolExecutor(max_workers=60) as pool:
            answers = list(pool.map(lambda n: send(client, "POST", url, health=health, json_body={"n": n},
                                                   timeout=30), range(60)))
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert [a.response.status if a.response else a.error for a in answers] == [201] * 60



def _pool_asks_mid_request(handler: type[BaseHTTPRequestHandler],
                           while_asked: Callable[[socket.socket, threading.Event, threading.Event, bool], None],
                           ) -> tuple[Exchange, Exchange, int]:
    """Forces the interleaving httpcore's pool leaves open. Before reusing an idle connection the pool
    asks, under its own lock but not the connection's, first whether it is idle, then whether its
    socket is readable (the server closed it). A POST, already given the one idle connection, is
    held just before it starts on it; another request's pool then asks about that connection, and
    ``while_asked(sock, go, writing, may_start)`` runs between the two steps: ``go`` releases the POST,
    ``writing`` is set once it writes, and ``may_start`` says whether it can start before the pool has
    decided (not when the question holds the connection's own lock). Returns the POST's exchange, the
    other's, and the connections the server accepted."""
    import sys
    import types

    import httpcore._sync.http11 as http11

    from tmf699ctk._http import TargetHealth, _WatchedStream, send

    server, accepted, url = _counting_server(handler)
    client = build_client(build_settings({"target.base_url": url}, env={}).target)
    health = TargetHealth()
    assigned, go, writing = threading.Event(), threading.Event(), threading.Event()
    held: list[Exchange] = []
    other: list[Exchange] = []
    try:
        warm = send(client, "GET", url, health=health, timeout=5)
        assert warm.response is not None and warm.response.status == 201, warm.error
        (connection,) = client._transport._pool._connections  # type: ignore[attr-defined]
        inner = connection._connection  # the HTTP/1.1 connection
        stream = inner._network_stream
        assert isinstance(stream, _WatchedStream)
        raw = stream._stream
        sock = raw.get_extra_info("socket")
        asker: list[threading.Thread] = []

        class Asked:  # the connection's own socket stream; the pool's question runs while_asked first
            def __getattr__(self, name: str) -> object:
                return getattr(raw, name)

            def get_extra_info(self, info: str) -> object:
                if info == "is_readable" and threading.current_thread() in asker:
                    while_asked(sock, go, writing, not inner._state_lock._lock.locked())
                return raw.get_extra_info(info)

        stream._stream = Asked()  # type: ignore[assignment]

        def hold(frame: types.FrameType, event: str, arg: object) -> None:
            if event == "call" and frame.f_code is http11.HTTP11Connection.handle_request.__code__:
                assigned.set()  # the pool has given the POST the connection, still idle
                go.wait(10)
            elif event == "call" and frame.f_code is _WatchedStream.write.__code__:
                writing.set()

        def held_post() -> None:
            sys.settrace(hold)  # type: ignore[arg-type]
            try:
                held.append(send(client, "POST", url, health=health, json_body={"n": 1}, timeout=10))
            finally:
                sys.settrace(None)

        holder = threading.Thread(target=held_post)
        holder.start()
        assert assigned.wait(10)
        asking = threading.Thread(target=lambda: other.append(send(client, "GET", url, health=health, timeout=10)))
        asker.append(asking)
        asking.start()
        asking.join(15)
        holder.join(15)
    finally:
        go.set()
        client.close()
        server.shutdown()
        server.server_close()
    assert go.is_set() and writing.is_set()  # the interleaving happened
    return held[0], other[0], len(accepted)


def test_a_connection_in_use_is_never_taken_for_one_the_server_closed() -> None:
    """The POST starts between the pool's two steps, and its answer (headers and the start of its
    body) makes the socket readable: the pool closed the connection under it ('ReadError: Bad file
    descriptor' on a POST in a full test run under load, blamed on the server). The connection is the
    POST's: its answer is read whole, and the other request gets a connection of its own."""
    finish = threading.Event()  # the rest of the POST's body, once the other request is answered
    gets: list[str] = []

    class Split(_Ok):
        def do_GET(self) -> None:
            super().do_POST()
            gets.append(self.path)
            if len(gets) == 2:  # the warm-up, then the other request
                finish.set()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"held": "' + b"x" * 100 + b'"}'
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:10])
            self.wfile.flush()
            finish.wait(10)
            self.wfile.write(body[10:])

    def answer_arrives(sock: socket.socket, go: threading.Event, writing: threading.Event, may_start: bool) -> None:
        go.set()
        if may_start:
            writing.wait(10)
            select.select([sock], [], [], 5)  # the POST's answer is in

    try:
        post, other, connections = _pool_asks_mid_request(Split, answer_arrives)
    finally:
        finish.set()
    assert post.error is None and post.retried is None, post.error
    assert post.response is not None and post.response.status == 201 and (post.response.body or "").endswith('x"}')
    assert other.error is None and other.response is not None and other.response.status == 201
    assert connections == 2


def test_a_connection_the_pool_found_closed_by_the_server_is_not_given_to_a_request() -> None:
    """The server closes the idle connection between the pool's two steps, and the POST, given that
    connection a moment before, starts just after the pool judged it closed, before the pool closes
    it: it was written on a dead connection (and no POST may be sent twice). Not one byte of it goes
    there: the POST gets a connection of its own, and is answered with nothing sent again."""
    drop = threading.Event()

    class Dropping(_Ok):
        def handle(self) -> None:
            self.handle_one_request()  # the first request on the connection, then the server drops it
            if self.command == "GET":
                drop.wait(10)
                return
            while not self.close_connection:
                self.handle_one_request()

        def do_GET(self) -> None:
            super().do_POST()

    def server_closes(sock: socket.socket, go: threading.Event, writing: threading.Event, may_start: bool) -> None:
        drop.set()
        select.select([sock], [], [], 5)  # the server's close arrives
        go.set()
        if may_start:
            writing.wait(10)  # the POST writes on the connection the pool is about to close

    try:
        post, other, connections = _pool_asks_mid_request(Dropping, server_closes)
    finally:
        drop.set()
    assert post.error is None and post.retried is None, post.error
    assert post.response is not None and post.response.status == 201
    assert other.error is None and other.response is not None and other.response.status == 201
    assert connections == 3


def test_a_request_sent_again_after_a_401_goes_on_a_live_connection() -> None:
    """A stale token answered 401 by a server that closes the connection right after, unannounced:
    httpx's auth flow renews the token and sends the request again, within the same exchange. The
    pool must still see that the idle connection was closed, and send it on a new one: answered, and
    nothing said to be sent again (a first version of the race fix above judged no connection while
    its exchange was still going, and wrote the renewed POST on the dead connection)."""
    import json

    from tmf699ctk._http import TargetHealth, send

    issued: list[str] = []
    dropped = threading.Event()  # the server has closed the connection of its 401
    refused: list[object] = []  # that connection

    class Api(_Ok):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/token":
                if len(issued) > 1:
                    dropped.wait(5)  # the token comes after the close (on a busy machine too)
                issued.append(f"t{len(issued) + 1}")
                body = json.dumps({"access_token": issued[-1], "token_type": "Bearer"}).encode()
                status = 200
            elif self.headers.get("Authorization") != f"Bearer {issued[-1]}":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = True  # right after its answer, unannounced
                refused.append(self.connection)
                return
            else:
                body, status = b'{"id": "1"}', 201
            self._answer(status, body)

    class Closing(LoopbackServer):
        def shutdown_request(self, request):  # type: ignore[no-untyped-def]
            super().shutdown_request(request)
            if request in refused:
                dropped.set()

    server = Closing(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = build_settings({"target.base_url": f"{base}/api", "target.oauth2.token_url": f"{base}/token",
                               "target.oauth2.client_id": "ctk", "target.oauth2.client_secret": "s-1234"}, env={})
    client = build_client(settings.target, redactor=settings.redactor)  # fetches the first token
    issued.append("rotated")  # the server now wants another one: the first gets a 401
    try:
        answer = send(client, "POST", f"{base}/api/salesLead", health=TargetHealth(), json_body={"n": 1}, timeout=5)
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert answer.error is None and answer.retried is None, answer.error or answer.retried
    assert answer.response is not None and answer.response.status == 201
    assert issued == ["t1", "rotated", "t3"]


def test_a_client_whose_first_requests_start_at_once_judges_each_connection_once() -> None:
    """The run's scenarios send their first requests at once, from several threads, each of which
    installs the deadline-aware backend and the atomic judgement on the client's pool. Installed twice,
    a connection's judgement took the connection's lock and then waited for it again, holding the
    pool's lock: every request of the run stopped (a fault matrix run hung in a full test run). Sixteen
    threads send their first request at once; every connection is then judged, and answers, in time."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tmf699ctk._http import TargetHealth, _judged_atomically, send, watched

    server = _serve(0)
    url = f"http://127.0.0.1:{server.server_address[1]}/api/salesLead"
    client = build_client(build_settings({"target.base_url": url}, env={}).target)
    health = TargetHealth()
    start = threading.Barrier(16, timeout=10)
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: the wrapping races if it can

    def first(n: int) -> bool:
        start.wait()
        return watched(client)

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            assert all(pool.map(first, range(16)))
        sys.setswitchinterval(switching)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda n: send(client, "POST", url, health=health, json_body={"n": n}, timeout=5),
                                    range(8)))
        connections = list(client._transport._pool._connections)  # type: ignore[attr-defined]
        judged: list[bool] = []
        for connection in connections:
            # judging one twice over (as a second install would) is the same single judgement
            assert _judged_atomically(connection) is connection
            judge = threading.Thread(target=lambda c=connection: judged.append(c.has_expired()), daemon=True)
            judge.start()
            judge.join(5)
            assert not judge.is_alive(), "the connection's judgement waits for itself"
        later = send(client, "POST", url, health=health, json_body={"n": 9}, timeout=5)
    finally:
        sys.setswitchinterval(switching)
        client.close()
        server.shutdown()
        server.server_close()
    assert [a.response.status if a.response else a.error for a in answers] == [201] * 8
    assert connections and judged == [False] * len(connections)
    assert later.response is not None and later.response.status == 201


@pytest.mark.parametrize(("head", "extra", "later"), [
    # a 204 with a body (a framework that writes one anyway), in the same segment
    (b"HTTP/1.1 204 No Content\r\n\r\n", b'{"deleted": true}', False),
    # an answer nobody asked for, complete, in the same segment
    (b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
    # a 204 that declares its body, which arrives once the answer was read (as the next one's)
    (b"HTTP/1.1 204 No Content\r\nContent-Length: 17\r\n\r\n", b'{"deleted": true}', True),
], ids=["204-body", "stray-answer", "204-body-later"])
def test_bytes_a_server_sends_after_its_answer_are_never_read_as_the_next_answer(
        head: bytes, extra: bytes, later: bool) -> None:
    """A server answers the first request, then sends more bytes on the connection. Kept alive, the
    connection would give the next request (another scenario's step) an answer read from them:
    'illegal status line', or the stray answer taken for its own. It is closed instead, and the
    next request gets its answer on a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connections: list[int] = []
    sent = threading.Event()  # the second request reached the server (on whichever connection)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def answer(conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                request, buffer = buffer.split(b"\r\n\r\n", 1)
                if request.startswith(b"DELETE"):
                    conn.sendall(head + (b"" if later else extra))
                    if later:
                        sent.wait(5)  # the next request is on its way: the body arrives as its answer
                        conn.sendall(extra)
                else:
                    sent.set()
                    conn.sendall(b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13'
                                 b'\r\n\r\n{"id": "new"}')

    threading.Thread(target=serve, daemon=True).start()
    settings = build_settings({"target.base_url": f"http://127.0.0.1:{port}/api"}, env={})
    from tmf699ctk._http import TargetHealth, send

    try:
        with build_client(settings.target) as client:
            health = TargetHealth()
            deleted = send(client, "DELETE", f"http://127.0.0.1:{port}/api/salesLead/1", health=health, timeout=5)
            created = send(client, "POST", f"http://127.0.0.1:{port}/api/salesLead", health=health, timeout=5,
                           json_body={"name": "x"})
    finally:
        listener.close()
    assert deleted.response is not None and deleted.response.status == 204, deleted.error
    assert created.response is not None, created.error
    assert (created.response.status, created.response.body) == (201, '{"id": "new"}')
    assert len(connections) == 2  # the first connection was not used again
    # the kit closed it: not a server that closes after its answers (every request would then ask
    # for a connection of its own)
    assert not health.fresh_connections


def test_once_the_server_closes_after_its_answers_no_connection_kept_from_before_is_used() -> None:
    """A server that closes each connection a moment after its answer (without saying so) makes the
    run ask for a connection per request. A connection still idle in the pool from before would be
    closed under the next request given it, and under its retry too ('Connection reset by peer': 3
    runs in 8 failed so against a server closing 10 ms after each answer)."""
    from tmf699ctk._http import TargetHealth, send

    server, accepted, url = _counting_server(_Ok)
    settings = build_settings({"target.base_url": url.rsplit("/", 1)[0]}, env={})
    try:
        with build_client(settings.target) as client:
            health = TargetHealth()
            first = send(client, "POST", url, health=health, timeout=5, json_body={"n": 1})
            assert len(accepted) == 1 and first.response is not None  # its connection is idle in the pool
            health.fresh_connections = True  # what the run learns from a connection closed after an answer
            second = send(client, "POST", url, health=health, timeout=5, json_body={"n": 2})
    finally:
        server.shutdown()
        server.server_close()
    assert second.response is not None and second.response.status == 201, second.error
    assert dict(second.request.headers).get("connection") == "close"
    assert len(accepted) == 2  # a connection of its own, not the one kept from the first request


def _rate_limited(refusals: int, retry_after: str | None, status: int = 429) -> type[BaseHTTPRequestHandler]:
    """Answers the first ``refusals`` POSTs ``status`` (429 Too Many Requests, with ``retry_after``),
    then 201."""
    seen: list[int] = []

    class RateLimited(_Ok):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(1)
            if len(seen) <= refusals:
                body = b'{"code": "429", "reason": "Too Many Requests"}'
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._answer(201, b'{"ok": true}')

    RateLimited.seen = seen  # type: ignore[attr-defined]
    return RateLimited


def _post_to(handler: type[BaseHTTPRequestHandler]) -> tuple[Exchange, type[BaseHTTPRequestHandler]]:
    """One POST through the kit's client to a loopback server answering with ``handler``."""
    from tmf699ctk._http import TargetHealth, send

    server, _, url = _counting_server(handler)
    try:
        with build_client(build_settings({"target.base_url": url.rsplit("/", 1)[0]}, env={}).target) as client:
            return send(client, "POST", url, health=TargetHealth(), timeout=5, json_body={"name": "x"}), handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("refusals", "retry_after", "status", "sent"), [
    (2, "0", 201, 3),  # a gateway's burst limit lifts: the third POST is answered
    (1, None, 201, 2),  # no Retry-After: a second later
    (3, "0", 429, 3),  # a limit that does not lift in two waits: the 429 is the answer
    (1, "86400", 429, 1),  # a wait beyond the exchange's deadline is not waited
])
def test_a_rate_limited_request_is_sent_again_after_the_wait_the_server_asks_for(
        refusals: int, retry_after: str | None, status: int, sent: int) -> None:
    exchange, handler = _post_to(_rate_limited(refusals, retry_after))
    assert exchange.response is not None and exchange.response.status == status, exchange.error
    assert len(handler.seen) == sent  # type: ignore[attr-defined]
    said = exchange.retried or ""
    assert said.count("after 429 Too Many Requests") == sent - 1, said
    if sent > 1:
        assert (f"(Retry-After: {retry_after})" if retry_after else "(no Retry-After: 1 s)") in said


@pytest.mark.parametrize(("retry_after", "status", "sent"), [
    ("\u00b2", 429, 2),  # a digit to Python, not to HTTP: read as no wait given (1 s)
    ("9" * 5000, 429, 1),  # beyond Python's digit limit: a day, not an exception
    ("0", 503, 1),  # a 503 does not say a POST was not applied: not sent again
])
def test_a_retry_after_a_server_writes_oddly_never_breaks_the_exchange(retry_after: str, status: int,
                                                                       sent: int) -> None:
    exchange, handler = _post_to(_rate_limited(1, retry_after, status))
    assert exchange.response is not None, exchange.error
    assert len(handler.seen) == sent  # type: ignore[attr-defined]
    assert exchange.response.status == (201 if sent == 2 else status)


def test_a_server_setting_hundreds_of_cookies_does_not_make_every_request_carry_them() -> None:
    """A gateway's session cookie is sent back; 300 Set-Cookie an answer (a hostile or broken server)
    made each later request carry all of them, past 1 MiB of headers within a run."""
    sent_cookies: list[int] = []

    class CookieFlood(_Ok):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sent_cookies.append(len(self.headers.get("Cookie") or ""))
            body = b'{"ok": true}'
            self.send_response(201)
            for n in range(300):
                self.send_header("Set-Cookie", f"flood{len(sent_cookies)}-{n}={'v' * 40}; Path=/")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    from tmf699ctk._http import MAX_COOKIE_BYTES, TargetHealth, send

    server, _, url = _counting_server(CookieFlood)
    try:
        with build_client(build_settings({"target.base_url": url.rsplit("/", 1)[0]}, env={}).target) as client:
            for _ in range(3):
                exchange = send(client, "POST", url, health=TargetHealth(), timeout=5, json_body={"name": "x"})
                assert exchange.response is not None and exchange.response.status == 201, exchange.error
    finally:
        server.shutdown()
        server.server_close()
    assert len(sent_cookies) == 3 and max(sent_cookies) <= MAX_COOKIE_BYTES, sent_cookies


def test_a_few_cookies_a_gateway_sets_are_sent_back() -> None:
    seen: list[str] = []

    class Sticky(_Ok):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Cookie") or "")
            body = b'{"ok": true}'
            self.send_response(201)
            self.send_header("Set-Cookie", "AWSALB=node-7; Path=/")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    from tmf699ctk._http import TargetHealth, send

    server, _, url = _counting_server(Sticky)
    try:
        with build_client(build_settings({"target.base_url": url.rsplit("/", 1)[0]}, env={}).target) as client:
            for _ in range(2):
                send(client, "POST", url, health=TargetHealth(), timeout=5, json_body={"name": "x"})
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["", "AWSALB=node-7"]  # a stickiness cookie goes back, as a browser would send it
