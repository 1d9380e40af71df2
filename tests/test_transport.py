"""The run's HTTP transport: TLS material is loaded only where a TLS connection can happen."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tmf699ctk._http import build_client
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
        body = b'{"ok": true}'
        self.send_response(201)
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

    accepted: list[object] = []

    class Counting(LoopbackServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            request = super().get_request()
            accepted.append(request)
            return request

    server = Counting(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/salesLead"
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
