"""The one place where the HTTP client is configured and exchanges are recorded."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from . import __version__
from ._exceptions import ConfigError
from ._redact import Redactor
from ._results import Exchange, HttpRequest, HttpResponse
from ._settings import TargetSettings


def normalise_base_url(url: str) -> str:
    """Any base path is allowed; a trailing slash or not makes no difference."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base URL {url!r} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"base URL {url!r} must not carry a query or fragment")
    return url.rstrip("/")


def build_client(target: TargetSettings, pool: int = 10, redactor: Redactor | None = None) -> httpx.Client:
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
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    # the one transport carries TLS, the proxy and the pool (httpx ignores them on the client then)
    transport = TlsRefusals(client_cert=target.client_cert, verify=verify, proxy=target.proxy, limits=limits,
                            trust_env=False)
    return httpx.Client(
        transport=transport,
        headers=headers,
        auth=auth,
        timeout=httpx.Timeout(target.timeout),
        follow_redirects=False,  # a redirect is an answer to check, not to follow silently
        trust_env=False,  # no surprise proxies or .netrc credentials from the environment
    )


def build_url(base_url: str, path: str | None, url: str | None, query: dict[str, Any]) -> str:
    target = url if url is not None else base_url + (path or "")
    if query:
        # commas stay literal so `fields=a,b` and `name=x,y` reach the server as TMF630 writes them
        encoded = "&".join(
            f"{quote(str(k), safe='.@')}={quote(_query_value(v), safe=',:@')}" for k, v in query.items()
        )
        target += ("&" if "?" in target else "?") + encoded
    return target


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass
class TargetHealth:
    """Shared by every scenario of a run: after a connection failure nothing more is sent."""

    unreachable: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark(self, message: str) -> None:
        with self._lock:
            self.unreachable = self.unreachable or message


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    abort: threading.Event | None = None,
) -> Exchange:
    """Send one request and return its record (unmasked: secrets are masked when results are
    written or shown); never raises for transport failures.

    ``abort``: when it is set (the run was interrupted) an exchange in flight ends at once and is
    recorded as interrupted.
    """
    content: bytes | None = None
    request_headers = dict(headers or {})
    if json_body is not None:
        content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        request_headers.setdefault("Content-Type", content_type or "application/json")
    elif raw_body is not None:
        content = raw_body.encode("utf-8")
        request_headers.setdefault("Content-Type", content_type or "application/json")
    request = client.build_request(method, url, headers=request_headers, content=content,
                                   timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT)
    record = HttpRequest(
        method=method,
        url=str(request.url),
        headers=request.headers.multi_items(),
        body=content.decode("utf-8") if content is not None else None,
    )
    exchange = Exchange(request=record, started_at=_now())
    if health.unreachable:
        exchange.error = f"not sent: the target is unreachable ({health.unreachable})"
        return exchange
    started = time.perf_counter()
    try:
        response = client.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        exchange.error = f"cannot connect to {request.url.host}:{request.url.port}: {_reason(exc)}"
        health.mark(exchange.error)
        return exchange
    except httpx.TimeoutException as exc:
        exchange.error = f"timed out after {time.perf_counter() - started:.1f}s ({type(exc).__name__})"
        return exchange
    except httpx.HTTPError as exc:
        exchange.error = f"{type(exc).__name__}: {_reason(exc)}"
        return exchange
    elapsed = (time.perf_counter() - started) * 1000
    body = response.content
    exchange.response = HttpResponse(
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=response.http_version,
        headers=response.headers.multi_items(),
        body=body.decode(response.encoding or "utf-8", errors="replace"),
        size=len(body),
        elapsed_ms=round(elapsed, 2),
    )
    return exchange


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1] if text.startswith("[") else text
