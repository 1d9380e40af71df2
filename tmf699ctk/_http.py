"""The one place where the HTTP client is configured and exchanges are recorded.

``send`` bounds every exchange: one deadline for connect, headers and the whole body, a body size
cap, and an abort signal that ends an exchange in flight at once. The deadline and the abort
signal reach the sockets through a wrapper around httpcore's network backend: every read and
write of the exchange is given at most the time left, and a watchdog shuts the socket down when
the run is interrupted.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpcore
import httpx
from httpcore import HTTP11Connection

from . import __version__
from ._exceptions import ConfigError
from ._redact import Redactor
from ._results import Exchange, HttpRequest, HttpResponse
from ._settings import MIB, TargetSettings

DEFAULT_MAX_BODY = 16 * MIB
INTERRUPTED = "interrupted"  # how an exchange ended by the run's abort signal begins its error
NOT_SENT = "not sent"  # how an exchange the kit refused to send begins its error
_WATCHDOG_PERIOD = 0.05  # seconds between the watchdog's looks at the exchanges in flight
KEPT_PREFIX = 64 * 1024  # bytes kept of a body that was not read whole
LARGE_BODY = 128 * 1024  # a body beyond this needs the large-body permit (see LargeBodyPermit)
INFLATE_STEP = 64 * 1024  # bytes a compressed body may inflate to per step
# seconds an exchange waits for the large-body permit: other steps' checks of large bodies take
# seconds, a holder that never lets go must not hang the run
PERMIT_PATIENCE = 60.0
# re-entrant: a step holding it may send again (a probe's delete) and read another large body
_large_bodies = threading.RLock()


class LargeBodyPermit:
    """The one process-wide permit to hold a large body (over ``LARGE_BODY``) in memory.

    ``send`` takes it when a body grows past the threshold; whoever passed the permit in releases
    it once done with the body (the runner: after the step's checks). One large body at a time,
    read, decoded and parsed, is what keeps the kit's memory bounded whatever servers send.
    Time spent waiting for it does not count against the exchange's deadline, up to
    ``PERMIT_PATIENCE`` (or the exchange's timeout, if longer): then the body is read without it,
    so that no holder, however stuck, can hang a run.
    """

    def __init__(self) -> None:
        self.held = False  # released by the thread that took it: the step's, or send()'s own
        self.waived = False  # waited a whole timeout for it: this body is read without it

    def take(self, watch: _Watch) -> None:
        if self.held or self.waived:
            return
        waited = time.monotonic()
        with watch.paused():
            while not _large_bodies.acquire(timeout=_WATCHDOG_PERIOD):
                if watch.abort is not None and watch.abort.is_set():
                    raise httpx.ReadError("interrupted while waiting to read a large body")
                if time.monotonic() - waited >= max(PERMIT_PATIENCE, watch.timeout):
                    self.waived = True
                    break
        watch.deadline += time.monotonic() - waited
        self.held = not self.waived

    def release(self) -> None:
        if self.held:
            self.held = False
            _large_bodies.release()


def normalise_base_url(url: str) -> str:
    """Any base path is allowed; a trailing slash or not makes no difference."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base URL {url!r} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"base URL {url!r} must not carry a query or fragment")
    return url.rstrip("/")


def build_client(target: TargetSettings, redactor: Redactor | None = None) -> httpx.Client:
    """The run's HTTP client. With OAuth2 the first token is fetched here, before anything is sent
    (``TokenEndpointError`` when none is issued), and ``redactor`` learns every token issued."""
    from ._auth import OAuth2ClientCredentials, TlsRefusals, tls_context

    verify = tls_context(target)
    headers = {"User-Agent": f"tmf699ctk/{__version__}", "Accept": "application/json"}
    headers.update(dict(target.headers))
    auth: httpx.Auth | None = httpx.BasicAuth(*target.basic_auth) if target.basic_auth else None
    if target.oauth2.enabled:
        if redactor is None:
            raise ValueError("OAuth2 needs the settings' redactor: tokens must be masked")
        oauth2 = OAuth2ClientCredentials(target.oauth2, redactor=redactor, origin=target.base_url, verify=verify,
                                         proxy=target.proxy, timeout=target.timeout)
        oauth2.prime()
        auth = oauth2
    # No limit on connections, nor on idle ones, and no expiry by age. httpcore decides under its pool
    # lock which connections to close (a surplus idle one, one past its expiry, an idle one to make room
    # when the pool is full) and closes them after releasing it, so it could close a connection it had
    # just handed to another thread's request: that request then read a closed socket ('ReadError: Bad
    # file descriptor', blamed on the server; a stack logged in a full test run showed such a close).
    # The kit's concurrency is bounded by its own threads; a connection the server closed is still found
    # (readable while idle) and replaced, and one closed under a request is sent again (_may_resend).
    # The pool's last such close, of an idle connection it takes for closed by the server, is made
    # safe by _judged_atomically (installed with the deadline-aware backend: see watched).
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=None)
    # the one transport carries TLS, the proxy and the pool (httpx ignores them on the client then)
    transport = TlsRefusals(client_cert=target.client_cert, verify=verify if _may_use_tls(target) else False,
                            proxy=target.proxy, limits=limits, trust_env=False)
    return httpx.Client(
        transport=transport,
        headers=headers,
        auth=auth,
        timeout=httpx.Timeout(target.timeout),
        follow_redirects=False,  # a redirect is an answer to check, not to follow silently
        trust_env=False,  # no surprise proxies or .netrc credentials from the environment
    )


def _may_use_tls(target: TargetSettings) -> bool:
    """Whether the run's transport can ever open a TLS connection. The kit sends nothing outside
    the base URL and follows no redirect, so a plain-HTTP target (without an HTTPS proxy) needs no
    CA bundle: not loading one saves ~35 ms of CPU per run. The OAuth2 client keeps its own."""
    proxy = (target.proxy or "").lower()
    base = (target.base_url or "https:").lower()  # no base URL yet: assume TLS
    return base.startswith("https:") or proxy.startswith("https:") or bool(target.client_cert)


def build_url(base_url: str, path: str | None, url: str | None, query: dict[str, Any]) -> str:
    target = url if url is not None else base_url + (path or "")
    if query:
        # commas stay literal so `fields=a,b` and `name=x,y` reach the server as TMF630 writes them
        try:
            encoded = "&".join(
                f"{quote(str(k), safe='.@')}={quote(_query_value(v), safe=',:@')}" for k, v in query.items()
            )
        except UnicodeEncodeError as exc:  # a lone surrogate a server's JSON carried ("\ud800")
            raise ValueError(f"a query value is not text a URL can carry ({exc.reason}: "
                             f"{exc.object[exc.start:exc.end]!r})") from None
        target += ("&" if "?" in target else "?") + encoded
    return target


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def outside_base(url: str, base_url: str) -> str | None:
    """Why ``url`` is not under ``base_url`` (None when it is): another origin, another path, or
    a ``.``/``..`` segment (also percent-encoded) that a server could resolve out of the API."""
    try:
        parts, base = urlsplit(url), urlsplit(base_url)
        origin = (parts.scheme.lower(), parts.hostname, parts.port or _default_port(parts.scheme))
        wanted = (base.scheme.lower(), base.hostname, base.port or _default_port(base.scheme))
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if origin != wanted:
        return f"it is on another origin ({parts.scheme}://{parts.netloc}), not {base.scheme}://{base.netloc}"
    prefix = base.path.rstrip("/")
    if not (parts.path == prefix or parts.path.startswith(prefix + "/")):
        return f"its path {parts.path!r} is outside the base path {prefix or '/'!r}"
    decoded = unquote(parts.path[len(prefix):]).replace("\\", "/")
    if any(segment in (".", "..") for segment in decoded.split("/")):
        return f"its path {parts.path!r} holds a '.' or '..' segment (once decoded) that would leave the API"
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


@dataclass
class TargetHealth:
    """Shared by every scenario of a run: after a connection failure nothing more is sent."""

    unreachable: str | None = None
    proxy: str | None = None  # every connection goes to it: a connection failure is the proxy's
    # the server closed a reused connection without answering: from then on every request asks for
    # a connection of its own (`Connection: close`), so none is sent on one the server has dropped
    fresh_connections: bool = False
    answered: bool = False  # the target has answered a request of this run (see _refused_again)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _unsent: set[str] = field(default_factory=set, repr=False)  # errors of requests that never reached it
    _speaks_tls: dict[tuple[str, int], bool] = field(default_factory=dict, repr=False)

    def mark(self, message: str) -> None:
        """The target cannot be reached: nothing more is sent (``message`` is a request's error)."""
        with self._lock:
            self.unreachable = self.unreachable or message
            self._unsent.add(message)

    def never_reached(self, exchange: Exchange) -> bool:
        """Whether the request cannot have reached the server's application (not sent, refused,
        not resolved, TLS failed): then it cannot have created anything."""
        error = exchange.error or ""
        with self._lock:
            unsent = error.startswith((NOT_SENT, f"{INTERRUPTED}: {NOT_SENT}")) or error in self._unsent
        return exchange.response is None and unsent

    def speaks_tls(self, host: str, port: int, watch: _Watch) -> bool:
        """Whether a TLS handshake succeeds on this port (probed once per run and port)."""
        key = (host, port)
        if key not in self._speaks_tls:
            self._speaks_tls[key] = _tls_handshake(host, port, watch)
        return self._speaks_tls[key]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the deadline and abort signal of one exchange --------------------------------------------------


class _Watch:
    """One exchange's deadline and the run's abort signal, enforced on its sockets."""

    def __init__(self, timeout: float, abort: threading.Event | None, health: TargetHealth | None = None) -> None:
        self.health = health
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.abort = abort
        self.ended: str | None = None  # "deadline" or INTERRUPTED, once either has struck
        self.done = False  # the exchange is over: its connection may be serving another one
        self.waiting = False  # for the large-body permit: the kit's time, not the server's
        self.streams: list[httpcore.NetworkStream] = []
        self.lock = threading.Lock()

    def left(self, error: type[Exception]) -> float:
        """Seconds left for the next socket operation; raises ``error`` once the exchange must end."""
        if self.abort is not None and self.abort.is_set():
            self.ended = self.ended or INTERRUPTED
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.ended = self.ended or "deadline"
        if self.ended:
            raise error("interrupted" if self.ended == INTERRUPTED else "the exchange's deadline passed")
        return remaining

    def attach(self, stream: httpcore.NetworkStream) -> None:
        with self.lock:
            if stream not in self.streams:
                self.streams.append(stream)

    def due(self) -> bool:
        if self.abort is not None and self.abort.is_set():
            return True
        return not self.waiting and time.monotonic() >= self.deadline

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.waiting = True
        try:
            yield
        finally:
            self.waiting = False

    def shut(self) -> None:
        """End the exchange now: a read blocked on one of its sockets returns at once."""
        with self.lock:
            if self.done:
                return
            self.ended = self.ended or (INTERRUPTED if self.abort is not None and self.abort.is_set() else "deadline")
            for stream in self.streams:
                sock = stream.get_extra_info("socket")
                if isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):
                        # socket.socket's own method: SSLSocket.shutdown would also drop its TLS
                        # state under the reading thread's feet
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One thread for the whole process, running only while exchanges are in flight."""

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="tmf699ctk-watchdog", daemon=True)
                self._thread.start()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._watches:
                    self._thread = None
                    return
                due = [w for w in self._watches if w.due()]
            for watch in due:
                watch.shut()
            time.sleep(_WATCHDOG_PERIOD)


_watchdog = _Watchdog()
_current = threading.local()  # the watch of the exchange this thread is sending, if any


def _budget(stream: httpcore.NetworkStream | None, timeout: float | None, error: type[Exception]) -> float | None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is None:
        return timeout
    if stream is not None:
        watch.attach(stream)
    remaining = watch.left(error)
    return remaining if timeout is None else min(timeout, remaining)


class _WatchedStream(httpcore.NetworkStream):
    """A connection's stream whose every operation respects the current exchange's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._last_read = time.monotonic()
        self.retired = False  # closed by the kit (see ``retire``), not by the server

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, _budget(self, timeout, httpcore.ReadTimeout))
        self._last_read = time.monotonic()
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _budget(self, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def retire(self) -> None:
        """Closed by the kit, so that the pool drops it: not a server that closes after its answers."""
        self.retired = True
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        budget = _budget(self, timeout, httpcore.ConnectTimeout)
        return _WatchedStream(self._stream.start_tls(ssl_context, server_hostname, budget))

    def get_extra_info(self, info: str) -> Any:
        value = self._stream.get_extra_info(info)
        if info == "is_readable" and value and not self.retired \
                and time.monotonic() - self._last_read < SERVER_CLOSED_AFTER_ANSWER:
            # the pool asks before reusing an idle connection: the server closed it right after its
            # answer, unannounced, and will do it again; a request sent before its close arrives
            # would get no answer, so every later request asks for a connection of its own
            watch: _Watch | None = getattr(_current, "watch", None)
            if watch is not None and watch.health is not None:
                watch.health.fresh_connections = True
        return value


def _judged_atomically(connection: httpcore.ConnectionInterface) -> httpcore.ConnectionInterface:
    """``connection``, whose "closed by the server?" check cannot interleave with a request starting on it.

    Before handing out a connection, httpcore's pool asks each idle one whether the server closed it:
    its state (idle), then its socket (readable), two steps under the pool's lock but not the
    connection's. A request assigned that connection a moment before starts under the connection's
    own lock, so it could start between the two: its answer then made the socket readable, and the pool
    closed the connection under it ('ReadError: Bad file descriptor', a transport error blamed on the
    server: it failed a CI run). Here the check holds the connection's lock, and a connection judged
    closed is marked so at once: a request that would start on it is refused before it sends a byte
    (``ConnectionNotAvailable``), and the pool gives it another connection."""
    judge = connection.has_expired
    if getattr(judge, _ATOMIC, False):
        return connection  # already: judging under a lock it holds would wait for itself forever

    def has_expired() -> bool:
        http11 = _http11(connection)
        # httpcore's internals (1.0): an httpcore that changed them is left to judge alone, as before
        lock = getattr(http11, "_state_lock", None)
        closed = getattr(type(getattr(http11, "_state", None)), "CLOSED", None)
        if lock is None or closed is None:  # not connected yet (nothing to judge), or not HTTP/1.1
            return judge()
        with lock:
            expired = judge() or _bytes_left_over(http11) or _fresh_only(http11)
            if expired:
                http11._state = closed  # type: ignore[union-attr]  # the pool closes it next, outside its lock
            return expired

    setattr(has_expired, _ATOMIC, True)
    connection.has_expired = has_expired  # type: ignore[method-assign]
    return connection


_ATOMIC = "_tmf699ctk_atomic"


def _fresh_only(http11: HTTP11Connection | None) -> bool:
    """An idle connection, once the run found the server closing connections right after its answers
    (``TargetHealth.fresh_connections``): each request since asks for a connection of its own, and one
    kept from before would be closed under the request given it ('Connection reset by peer', even on
    the retry that ask made)."""
    watch: _Watch | None = getattr(_current, "watch", None)
    return watch is not None and watch.health is not None and watch.health.fresh_connections and _idle(http11)


def _bytes_left_over(http11: HTTP11Connection | None) -> bool:
    """An idle connection that holds bytes the server sent after its last answer (a 204 with a body,
    a Content-Length that counted characters, not bytes). httpcore keeps it for the next request, whose
    answer would then be read from those bytes: 'illegal status line', or worse an answer nobody asked
    for taken for the next request's (on another scenario's step). It is closed instead."""
    trailing = getattr(getattr(http11, "_h11_state", None), "trailing_data", None)
    return _idle(http11) and bool(trailing and trailing[0])


def _idle(http11: HTTP11Connection | None) -> bool:
    """Whether the connection waits for its next request (httpcore 1.0's state; False if that changed)."""
    state = getattr(http11, "_state", None)
    idle = getattr(type(state), "IDLE", None)
    return idle is not None and state is idle


def _http11(connection: object) -> HTTP11Connection | None:
    """The HTTP/1.1 connection inside a pool's connection (direct, or through a proxy), once connected."""
    for _ in range(3):
        if isinstance(connection, HTTP11Connection):
            return connection
        connection = getattr(connection, "_connection", None)
    return None


class _WatchedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        budget = _budget(None, timeout, httpcore.ConnectTimeout)
        return _WatchedStream(self._backend.connect_tcp(host, port, budget, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        budget = _budget(None, timeout, httpcore.ConnectTimeout)
        return _WatchedStream(self._backend.connect_unix_socket(path, budget, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def watched(client: httpx.Client) -> bool:
    """Route the client's connections through the deadline-aware backend, each judged closed by the
    server atomically (idempotent); False when this httpx no longer exposes its connection pool (the
    deadline is then checked only between body chunks)."""
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    ok = True
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            ok = False
        elif not isinstance(backend, _WatchedBackend):
            with _wrapping:  # the first requests of a run start at once, from several threads: wrap once
                backend = pool._network_backend  # type: ignore[union-attr]
                if not isinstance(backend, _WatchedBackend):
                    create = pool.create_connection  # type: ignore[union-attr]
                    pool.create_connection = (  # type: ignore[union-attr]
                        lambda origin, create=create: _judged_atomically(create(origin)))
                    pool._network_backend = _WatchedBackend(backend)  # type: ignore[union-attr]
    return ok


_wrapping = threading.Lock()


@contextlib.contextmanager
def _watching(timeout: float, abort: threading.Event | None,
              health: TargetHealth | None = None) -> Iterator[_Watch]:
    watch = _Watch(timeout, abort, health)
    # an exchange sent while another waits (a dropped POST's lookup by name) hands the thread back to it
    outer = getattr(_current, "watch", None)
    _current.watch = watch
    _watchdog.add(watch)
    try:
        yield watch
    finally:
        with watch.lock:  # over, however it ended: a late shut() must not touch a connection reused since
            watch.done = True
        _current.watch = outer
        _watchdog.remove(watch)


# -- one exchange -------------------------------------------------------------------------------------


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# an idle connection the server closed this soon after its last answer: it closes after every answer
# (one closed after a keep-alive timeout of seconds is ordinary and changes nothing)
SERVER_CLOSED_AFTER_ANSWER = 1.0
RETRIES = 2  # each one drops a connection the server had closed


REFUSED_PAUSE = 0.25  # seconds before connecting again to a target that refused a connection mid-run


def _refused_again(exc: Exception, retries: int, watch: _Watch, health: TargetHealth) -> bool:
    """A target that has answered in this run refused a connection (restarting, a rolling deploy, a
    full listen queue): nothing was sent, so any request may try once more after a short pause, within
    its deadline. A target that never answered is unreachable at once (a wrong URL is said fast)."""
    if not health.answered or health.proxy or retries >= RETRIES or not isinstance(exc, httpx.ConnectError):
        return False
    if not any(isinstance(c, ConnectionRefusedError) for c in _causes(exc)):
        return False
    pause = min(REFUSED_PAUSE, watch.deadline - time.monotonic())
    if pause <= 0 or watch.ended:
        return False
    if watch.abort is not None:
        return not watch.abort.wait(pause) and not watch.ended
    time.sleep(pause)
    return not watch.ended


def _may_retry(method: str, exc: Exception, retries: int, watch: _Watch) -> bool:
    """Whether the server closed the (reused) connection before answering, so that an idempotent
    request may be sent again, within its deadline and the run still going."""
    return method.upper() in IDEMPOTENT and _may_resend(exc, retries, watch)


def _may_resend(exc: Exception, retries: int, watch: _Watch) -> bool:
    """The server closed the connection without answering, and there is time left to send again."""
    if watch.ended or time.monotonic() >= watch.deadline or retries >= RETRIES:
        return False
    if isinstance(exc, httpx.RemoteProtocolError):
        return "without sending a response" in str(exc)
    if isinstance(exc, httpx.WriteError | httpx.ReadError):
        cause = exc.__context__ or exc.__cause__
        if any(isinstance(c, OSError) and c.errno == errno.EBADF for c in _causes(exc)):
            return True  # the pool closed the connection under the request (see build_client)
        return isinstance(cause, ConnectionResetError | BrokenPipeError) or "reset" in str(exc).lower() \
            or "broken pipe" in str(exc).lower()
    return False


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    health: TargetHealth,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    raw_body: str | None = None,
    content_type: str | None = None,
    timeout: float | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    abort: threading.Event | None = None,
    permit: LargeBodyPermit | None = None,
    never_applied: Callable[[], str | None] | None = None,
) -> Exchange:
    """Send one request and return its record (unmasked: secrets are masked when results are
    written or shown); never raises.

    An answer 429 Too Many Requests says the request was not processed (as does a 503 with
    Retry-After, for a request that may be repeated): it is sent again after the wait the server asks
    for (1 s when it names none), at most twice, and only while half the exchange's deadline is
    still ahead; the record says so. A rate-limited gateway in front of a conformant server does not
    fail checks for the kit's bursts; a limit that does not lift in time leaves the 429 as the answer,
    to be judged, and so does a repeat that got no answer (a repeat never marks the target unreachable).
    """
    total = timeout if timeout is not None else (client.timeout.read or 10.0)
    deadline = time.monotonic() + total
    waited = ""
    exchange: Exchange | None = None
    for attempt in range(RATE_LIMITED_RETRIES + 1):
        answer = _send_once(client, method, url, health=health, headers=headers, json_body=json_body,
                            raw_body=raw_body, content_type=content_type,
                            timeout=total if not attempt else max(deadline - time.monotonic(), 0.001),
                            max_body=max_body, abort=abort, permit=permit, never_applied=never_applied,
                            repeat=bool(attempt))
        if exchange is not None and answer.response is None:  # the repeat got no answer: the 429 stands
            waited += f"and the last repeat got no answer ({answer.error}); "
            break
        exchange = answer
        pause = _retry_after(answer.response, method) if attempt < RATE_LIMITED_RETRIES else None
        if pause is None or deadline - time.monotonic() - pause < max(pause, total / 2):
            break
        assert answer.response is not None
        asked = answer.response.header("retry-after")
        waited += (f"sent again {pause:g} s after {answer.response.status} {answer.response.reason}"
                   f"{f' (Retry-After: {asked})' if asked else ' (no Retry-After: 1 s)'}; ")
        if abort is not None and abort.wait(pause):
            break  # interrupted while waiting: the answer so far is the record
        if abort is None:
            time.sleep(pause)
    assert exchange is not None
    if waited:
        exchange.retried = waited + (exchange.retried or "")
    _bound_cookies(client)
    return exchange


# the cookies a run keeps and sends back (a gateway's session or stickiness cookie is a few): a server
# setting hundreds would make every later request carry them (300 a response grew each past 1 MiB)
MAX_COOKIES = 50
MAX_COOKIE_BYTES = 8 * 1024


def _bound_cookies(client: httpx.Client) -> None:
    """Forget every cookie once the server has set more than the bounds allow."""
    with contextlib.suppress(RuntimeError):  # another thread storing one while these are counted
        cookies = list(client.cookies.jar)
        if len(cookies) > MAX_COOKIES or sum(len(c.name) + len(c.value or "") for c in cookies) > MAX_COOKIE_BYTES:
            client.cookies.clear()


RATE_LIMITED_RETRIES = 2


def _retry_after(response: HttpResponse | None, method: str) -> float | None:
    """The seconds a 429 asks the client to wait (or a 503 with Retry-After, to a request that may be
    repeated: a 503 does not say the request was not applied), else None."""
    if response is None or response.status not in (429, 503):
        return None
    if response.status == 503 and method.upper() not in IDEMPOTENT:
        return None
    value = (response.header("retry-after") or "").strip()
    if not value:
        return 1.0 if response.status == 429 else None
    if value.isascii() and value.isdigit():  # delta-seconds ("²" is a digit to Python, not to HTTP)
        return float(min(int(value[:6]), 86_400)) if len(value) <= 6 else 86_400.0
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 1.0 if response.status == 429 else None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _send_once(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    health: TargetHealth,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    raw_body: str | None = None,
    content_type: str | None = None,
    timeout: float | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    abort: threading.Event | None = None,
    permit: LargeBodyPermit | None = None,
    never_applied: Callable[[], str | None] | None = None,
    repeat: bool = False,
) -> Exchange:
    """One exchange of ``send`` (see there); never raises. ``repeat``: a rate-limited request sent
    again, whose failure to connect does not make the target unreachable (the server answered).

    ``timeout`` (default: the client's) is one deadline for connecting, the headers and the whole
    body. A body larger than ``max_body`` is read up to the cap and recorded ``truncated``. When
    ``abort`` is set (the run was interrupted) an exchange in flight ends at once, recorded as
    interrupted. ``permit``: the caller keeps a large body's permit until it releases it (without
    one, the permit is released when ``send`` returns). ``never_applied``: for a request that is not
    idempotent (a POST), asked when the server closed the connection without answering; the request
    is sent again only when it says how it knows the first was never applied (RFC 9110 9.2.2).
    """
    request_headers = {str(k): str(v) for k, v in (headers or {}).items()}
    content: bytes | None = None
    text: str | None = None
    exchange = Exchange(request=HttpRequest(method, url, list(request_headers.items())), started_at=_now())
    try:
        if json_body is not None:
            text = json.dumps(json_body, ensure_ascii=False)
        elif raw_body is not None:
            text = raw_body
        if text is not None:
            exchange.request.body = text
            content = text.encode("utf-8")
            request_headers.setdefault("Content-Type", content_type or "application/json")
        if health.fresh_connections:
            request_headers["Connection"] = "close"
        if not any(k.lower() == "accept-encoding" for k in request_headers):
            # only what the kit can undo in bounded steps (httpx would also offer br/zstd when installed)
            request_headers["Accept-Encoding"] = "gzip, deflate"
        total = timeout if timeout is not None else (client.timeout.read or 10.0)
        request = client.build_request(method, url, headers=request_headers, content=content,
                                       timeout=httpx.Timeout(total))
    except Exception as exc:  # a value the URL or body cannot carry: recorded, never raised
        exchange.error = f"{NOT_SENT}: the request cannot be built ({type(exc).__name__}: {_reason(exc)})"
        return exchange
    exchange.request = HttpRequest(method=method, url=str(request.url), headers=request.headers.multi_items(),
                                   body=text)
    if health.unreachable:
        exchange.error = f"{NOT_SENT}: the target is unreachable ({health.unreachable})"
        return exchange
    if abort is not None and abort.is_set():
        exchange.error = f"{INTERRUPTED}: {NOT_SENT}: the run was stopped"
        return exchange
    watched(client)
    started = time.perf_counter()
    with _watching(total, abort, health) as watch:
        retries = 0
        while True:
            try:
                response = client.send(request, stream=True)
                break
            except Exception as exc:
                if _refused_again(exc, retries, watch, health):
                    retries += 1
                    exchange.retried = (f"{exchange.retried or ''}sent again: the connection was refused "
                                        f"({_reason(exc)}) although the server had answered before in this run; ")
                    continue
                proof = None
                if method.upper() not in IDEMPOTENT and never_applied is not None and _may_resend(exc, retries, watch):
                    proof = never_applied()
                    if proof is None or watch.ended or time.monotonic() >= watch.deadline:
                        proof = None
                if proof is not None or _may_retry(method, exc, retries, watch):
                    retries += 1
                    # RFC 9112 9.3.1.1: an idempotent request on a connection the server closed before
                    # answering may be sent again; said in the evidence
                    health.fresh_connections = True
                    request.headers["Connection"] = "close"
                    exchange.request.headers = request.headers.multi_items()
                    exchange.retried = (f"{exchange.retried or ''}sent again: the server closed the connection "
                                        f"without answering ({type(exc).__name__}: {_reason(exc)})"
                                        f"{f', and {proof}' if proof else ''}; ")
                    continue
                exchange.error, unreachable = _failure(exc, request, watch, time.perf_counter() - started, health,
                                                       before_response=True, deadline=total)
                if unreachable and not repeat:
                    health.mark(exchange.error)
                return exchange
        health.answered = True
        own_permit = permit is None
        reader = _BodyReader(max_body, watch, permit or LargeBodyPermit())
        try:
            reader.read(response)
        except Exception as exc:
            reader.truncated = True
            cut, _ = _failure(exc, request, watch, time.perf_counter() - started, health, before_response=False,
                              deadline=total)
            received = f"the body was cut short after {reader.received:,} bytes"
            exchange.error = f"{cut} ({received})" if cut.startswith(INTERRUPTED) else f"{received}: {cut}"
        finally:
            with watch.lock:
                watch.done = True
            if response.status_code == 204 and (response.headers.get("transfer-encoding")
                                                or (_content_length(response) or 0) > 0):
                # a 204 has no body, whatever it declares (RFC 9110 8.6, 15.3.5): a server that declares
                # one sends it anyway, maybe after the answer was read; those bytes would be read as the
                # next answer on this connection (another request's), so it is not used again
                stream = response.extensions.get("network_stream")
                with contextlib.suppress(Exception):
                    if isinstance(stream, _WatchedStream):
                        stream.retire()
                    elif stream is not None:
                        stream.close()
            with contextlib.suppress(Exception):
                response.close()
            text = _decode(reader.kept(), response)
            reader.release()
            if own_permit:
                reader.permit.release()
    exchange.response = HttpResponse(
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=response.http_version,
        headers=response.headers.multi_items(),
        body=text,
        size=reader.received,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        truncated=reader.truncated,
    )
    return exchange


class _BodyReader:
    """Reads a response body within the cap, decompressing in bounded steps (a gzip bomb inflates
    64 KiB at a time, never all at once); of a body not read whole, only a prefix is kept."""

    def __init__(self, max_body: int, watch: _Watch, permit: LargeBodyPermit) -> None:
        self.max_body = max_body
        self.watch = watch
        self.permit = permit
        self.body = bytearray()
        self.received = 0  # bytes of (decoded) body received
        self.truncated = False

    def read(self, response: httpx.Response) -> None:
        declared = _content_length(response)
        if declared is not None and declared > self.max_body and not response.headers.get("content-encoding"):
            # no need to read what would be thrown away: a prefix shows what it was
            self.truncated = True
            limit = KEPT_PREFIX
        else:
            limit = self.max_body
        for chunk in _decoded(response):
            room = limit - len(self.body)
            if len(self.body) + len(chunk) > LARGE_BODY:
                self.permit.take(self.watch)
            self.received += min(len(chunk), room)
            if len(chunk) > room:
                self.body += chunk[:room]
                self.truncated = True
                return
            self.body += chunk
            if self.watch.due():  # only matters when the backend could not be wrapped
                self.watch.shut()
                raise httpx.ReadTimeout("the exchange's deadline passed")

    def kept(self) -> bytearray:
        """What is recorded: the body, or a prefix of it when it was not read whole."""
        if self.truncated and len(self.body) > KEPT_PREFIX:
            del self.body[KEPT_PREFIX:]
        return self.body

    def release(self) -> None:
        self.body = bytearray()


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.strip().isdigit() else None


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body's bytes with its Content-Encoding undone (gzip, deflate; anything else as sent)."""
    chunks: Iterator[bytes] = response.iter_raw()
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            chunks = _inflate(chunks, zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            chunks = _inflate(chunks, zlib.MAX_WBITS, raw_fallback=True)
        elif coding != "identity":
            break  # not one the kit asked for: recorded as the server sent it
    return chunks


def _inflate(chunks: Iterator[bytes], wbits: int, raw_fallback: bool = False) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    first = True
    for chunk in chunks:
        data = chunk
        while data:
            try:
                out = inflater.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                if first and raw_fallback:  # "deflate" is often sent without its zlib header
                    inflater, raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                raise httpx.DecodingError(f"the {'gzip' if wbits & 16 else 'deflate'} body is corrupt: {exc}") \
                    from exc
            first = False
            if out:
                yield out
            data = inflater.unconsumed_tail
    with contextlib.suppress(zlib.error):
        tail = inflater.flush()
        if tail:
            yield tail


def _decode(body: bytes | bytearray, response: httpx.Response) -> str:
    """The body as text, whatever charset the server names (unknown or not a text encoding: UTF-8)."""
    try:
        return body.decode(response.charset_encoding or "utf-8", errors="replace")
    except (LookupError, ValueError):
        return body.decode("utf-8", errors="replace")


# -- what went wrong, in words ------------------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# OpenSSL's words for "the other side does not speak TLS" (it answered plain HTTP, or nothing sensible)
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG",
            "UNKNOWN_PROTOCOL", "UNEXPECTED_RECORD")


def _failure(exc: Exception, request: httpx.Request, watch: _Watch, seconds: float, health: TargetHealth,
             before_response: bool, deadline: float) -> tuple[str, bool]:
    """(what happened, whether the target is unreachable) for an exchange that raised. A timeout
    names the ``deadline`` the exchange had (what the user set), not the time measured, which a
    busy machine stretches."""
    url = request.url
    where = f"{url.host}:{url.port or _default_port(url.scheme)}"
    if health.proxy:
        proxy = urlsplit(health.proxy)
        # connecting, resolving and refusing concern the proxy; TLS and answers, the target
        dial = f"the proxy {proxy.hostname}:{proxy.port or _default_port(proxy.scheme)} (for {where})"
    else:
        dial = where
    if watch.ended == INTERRUPTED:
        return f"{INTERRUPTED}: the run was stopped while this request was in flight ({seconds:.1f}s)", False
    causes = list(_causes(exc))
    if watch.ended == "deadline" or any(isinstance(c, httpx.TimeoutException | httpcore.TimeoutException)
                                        for c in causes):
        if any(isinstance(c, httpx.ConnectTimeout | httpcore.ConnectTimeout) for c in causes):
            return (f"timed out after {deadline:g}s connecting to {dial}: no answer to the connection attempt "
                    "(the host may be down, or a firewall drops the packets)", True)
        return f"timed out after {deadline:g}s (--timeout covers connect, headers and the whole body)", False
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            host = f"of {dial}" if health.proxy else repr(url.host)
            return f"cannot resolve the host name {host} (DNS failure: {_reason(cause)})", True
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot connect to {dial}: connection refused (nothing listens on that port)", True
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS certificate verification failed for {where} ({_reason(cause)}); if the server's "
                    "certificate comes from a private CA, give that CA with --ca-bundle FILE", True)
        if isinstance(cause, ssl.SSLError):
            if "ALERT" in str(cause).upper() and isinstance(exc, httpx.ConnectError):
                # the server refused the handshake: the transport (_auth.TlsRefusals) says what to do
                return f"cannot connect to {where}: {_reason(exc)}", True
            if any(word in str(cause).upper() for word in _NOT_TLS):
                return (f"TLS handshake with {where} failed ({_reason(cause)}): the server does not speak TLS "
                        "on this port; if it serves plain HTTP, use an http:// base URL", True)
            return f"TLS handshake with {where} failed: {_reason(cause)}", True
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"cannot connect to {dial}: {_reason(exc)}", True
    if before_response and url.scheme == "http" and isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError) \
            and health.speaks_tls(url.host, url.port or 80, watch):
        return (f"plain HTTP was sent to {where}, which speaks TLS: use an https:// base URL "
                f"({type(exc).__name__}: {_reason(exc)})", True)
    return f"{type(exc).__name__}: {_reason(exc)}", False


def _tls_handshake(host: str, port: int, watch: _Watch) -> bool:
    """Whether a TLS handshake succeeds on this port (asked once a plain exchange got no HTTP back)."""
    try:
        remaining = watch.deadline - time.monotonic()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=max(0.5, min(2.0, remaining))) as sock, \
                context.wrap_socket(sock, server_hostname=host):
            return True
    except (OSError, ValueError):
        return False


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = text.split("] ", 1)[-1] if text.startswith("[") else text
    return text.split(" (_ssl.c:", 1)[0]
