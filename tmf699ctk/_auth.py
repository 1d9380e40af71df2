"""How the kit proves who it is to the target: OAuth2 client credentials and client certificates.

OAuth2 (RFC 6749 §4.4): Authlib builds the token request (grant, scope, audience, client
authentication by Basic or by body) and reads the answer; httpx carries it. One token serves every
request of the run, from every thread; it is renewed before ``expires_in`` runs out and once after
a 401. Each token is handed to the settings' redactor the moment it arrives, so it is masked in
every output like any configured secret.
"""

from __future__ import annotations

import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator
from functools import cache
from typing import Any

import httpx

from . import __version__
from ._exceptions import ConfigError, TokenEndpointError
from ._redact import Redactor
from ._settings import OAuth2AuthMethod, OAuth2Settings, TargetSettings

RENEW_MARGIN = 30.0  # seconds before expiry a token is replaced, at most...
RENEW_FRACTION = 0.1  # ...and at most this share of its lifetime (a 20 s token is renewed at 18 s)
_AUTH_METHODS = {OAuth2AuthMethod.BASIC: "client_secret_basic", OAuth2AuthMethod.BODY: "client_secret_post"}


class TokenRefreshFailed(httpx.HTTPError):
    """A token could not be renewed during the run; the exchange that needed it is recorded with this."""


class _OAuth2ErrorAnswer(Exception):
    """The token endpoint answered with an OAuth2 ``error`` (RFC 6749 §5.2)."""

    def __init__(self, error: str | None = None, description: str | None = None, **_: Any) -> None:
        super().__init__(error)
        self.error, self.description = error, description


@cache
def _token_client_class() -> type[Any]:
    """Authlib's OAuth2 client core over an httpx session, with Authlib's client authentication
    (client_secret_basic / client_secret_post) as an httpx auth.

    Not Authlib's httpx integration: since Authlib 1.8 it targets httpx2 and warns on every import
    when it falls back to httpx, and the kit's requests are sent with ``Client.send``, which that
    integration's token handling does not cover anyway. Built on first use: a run without OAuth2
    does not import Authlib."""
    from authlib.oauth2.auth import ClientAuth
    from authlib.oauth2.client import OAuth2Client

    class _ClientAuth(httpx.Auth, ClientAuth):  # type: ignore[misc]
        requires_request_body = True

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            url, headers, body = self.prepare(request.method, str(request.url), request.headers, request.content)
            body = body.encode("utf-8") if isinstance(body, str) else body
            headers["Content-Length"] = str(len(body))
            yield httpx.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)

    class _TokenClient(OAuth2Client):  # type: ignore[misc]
        client_auth_class = _ClientAuth
        oauth_error_class = _OAuth2ErrorAnswer

    return _TokenClient


class _NoToken(Exception):
    """The token endpoint did not issue a usable token; the message says why and names it."""


class OAuth2ClientCredentials(httpx.Auth):
    """Bearer tokens for every request to the target, shared by all threads (one fetch at a time)."""

    def __init__(
        self,
        oauth2: OAuth2Settings,
        *,
        redactor: Redactor,
        origin: str | None,
        verify: ssl.SSLContext | bool = True,
        proxy: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``origin``: the base URL whose scheme, host and port alone receive the token (None: all)."""
        if not oauth2.token_url:
            raise ValueError("OAuth2 needs a token URL")
        self._oauth2 = oauth2
        self._redactor = redactor
        self._origin = _origin(httpx.URL(origin)) if origin else None
        self._verify, self._proxy, self._timeout = verify, proxy, timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: float | None = None  # on this clock; None: no expiry announced
        # fetched because of a 401 and not yet accepted: if it is refused too, that answer stands
        self._suspect = False
        self._failure: str | None = None
        self.fetches = 0  # tokens issued to this run

    def prime(self) -> None:
        """Fetch the first token now: a refused client is a clear error before anything is sent."""
        try:
            self._current()
        except _NoToken as exc:
            raise TokenEndpointError(str(exc)) from None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._origin is not None and _origin(request.url) != self._origin:
            yield request  # a URL elsewhere never receives the token
            return
        try:
            token = self._current()
        except _NoToken as exc:
            raise TokenRefreshFailed(str(exc)) from None
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            self._accepted(token)
            return
        try:
            renewed = self._renewed_after_401(token)
        except _NoToken as exc:
            raise TokenRefreshFailed(str(exc)) from None
        if renewed is None:
            return  # the server refuses fresh tokens too: its 401 is the answer
        request.headers["Authorization"] = f"Bearer {renewed}"
        response = yield request  # once: a second 401 is the server's answer, recorded as such
        if response.status_code != 401:
            self._accepted(renewed)

    # -- token state, under the lock --------------------------------------------------------------

    def _current(self) -> str:
        with self._lock:
            if self._failure:
                raise _NoToken(self._failure)
            if self._token is None or (self._renew_at is not None and self._clock() >= self._renew_at):
                self._fetch()
            assert self._token is not None
            return self._token

    def _renewed_after_401(self, refused: str) -> str | None:
        with self._lock:
            if self._failure:
                raise _NoToken(self._failure)
            if self._token != refused:
                return self._token  # another request has renewed it meanwhile
            if self._suspect:
                return None
            self._fetch()
            self._suspect = True
            return self._token

    def _accepted(self, token: str) -> None:
        with self._lock:
            if token == self._token:
                self._suspect = False

    def _fetch(self) -> None:
        started = self._clock()
        try:
            token, lifetime = self._request_token()
        except _NoToken as exc:
            # a token endpoint that failed once is not asked again by every waiting request
            self._failure = str(exc)
            raise
        self._redactor.add_values([token, f"Bearer {token}"])
        self._token, self._suspect = token, False
        self._renew_at = None if lifetime is None else started + lifetime - min(RENEW_MARGIN, lifetime * RENEW_FRACTION)
        self.fetches += 1

    def _request_token(self) -> tuple[str, float | None]:
        """One token request; the token and its lifetime in seconds (None: not announced)."""
        oauth2 = self._oauth2
        where = f"OAuth2 token endpoint {oauth2.token_url}"
        answers: list[httpx.Response] = []

        def remember(response: httpx.Response) -> httpx.Response:
            answers.append(response)
            return response

        def status() -> str:
            return f" {answers[-1].status_code}" if answers else ""

        with httpx.Client(verify=self._verify, proxy=self._proxy, timeout=self._timeout, trust_env=False,
                          follow_redirects=False, headers={"User-Agent": f"tmf699ctk/{__version__}"}) as session:
            client = _token_client_class()(
                session, client_id=oauth2.client_id, client_secret=oauth2.client_secret,
                token_endpoint_auth_method=_AUTH_METHODS[oauth2.auth_method], scope=oauth2.scope)
            client.register_compliance_hook("access_token_response", remember)
            try:
                answer = client.fetch_token(oauth2.token_url, grant_type="client_credentials",
                                            audience=oauth2.audience)
            except _OAuth2ErrorAnswer as exc:
                hint = (" (check the client id and secret, and --oauth2-auth-method basic or body)"
                        if exc.error == "invalid_client" else "")
                said = f": {exc.description}" if exc.description else ""
                raise _NoToken(self._safe(f"{where} answered{status()} {exc.error}{said}{hint}")) from None
            except httpx.HTTPStatusError as exc:
                raise _NoToken(self._safe(f"{where} answered {exc.response.status_code} "
                                          f"{exc.response.reason_phrase} without an OAuth2 token")) from None
            except httpx.TimeoutException:
                raise _NoToken(f"{where} did not answer within {self._timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise _NoToken(self._safe(f"{where} is unreachable: {_reason(exc)}")) from None
            except (ValueError, TypeError) as exc:
                raise _NoToken(self._safe(f"{where} answered{status()} with a body that is not an OAuth2 token "
                                          f"response ({exc})")) from None
        token = answer.get("access_token")
        if (answers and answers[-1].status_code >= 300) or not isinstance(token, str) or not token.strip():
            raise _NoToken(f"{where} answered{status()} without an access_token")
        token_type = answer.get("token_type")
        if token_type is not None and str(token_type).lower() != "bearer":
            raise _NoToken(self._safe(f"{where} issued a {token_type!r} token; the kit sends Bearer tokens "
                                      "(RFC 6750)"))
        return token, _lifetime(answer.get("expires_in"))

    def _safe(self, message: str) -> str:
        """What the endpoint said, short, on one line, with every known secret masked."""
        flat = "".join(c if c.isprintable() else " " for c in message)
        return self._redactor.text(flat if len(flat) <= 400 else flat[:400] + "...")


def _lifetime(expires_in: Any) -> float | None:
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        return None  # not announced (or unreadable): kept until the server answers 401
    if not math.isfinite(seconds):  # "Infinity", "nan": no time to renew it at
        return None
    return max(seconds, 0.0)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1] if text.startswith("[") else text


# -- TLS: server verification and the client certificate ----------------------------------------

_REFUSAL = re.compile(r"alert (certificate required|unknown ca|bad certificate|certificate (?:expired|revoked|unknown)"
                      r"|unsupported certificate|access denied|handshake failure)", re.IGNORECASE)


class TlsRefusals(httpx.HTTPTransport):
    """Reports a TLS handshake the server refused as the connection failure it is, with what to do.

    With TLS 1.3 the server judges the client certificate after the client has finished its side
    of the handshake, so the refusal arrives on the first read; TLS 1.2 reports it while connecting.
    Both become the same ``ConnectError``: the target is unreachable, not failing checks."""

    def __init__(self, *, client_cert: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_cert = client_cert

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except (httpx.ReadError, httpx.ConnectError) as exc:
            found = _REFUSAL.search(str(exc))
            if found is None:
                raise
            raise httpx.ConnectError(self._explain(found.group(1).lower()), request=request) from exc

    def _explain(self, alert: str) -> str:
        if alert == "certificate required":
            return ("the server requires a client certificate (TLS alert: certificate required): "
                    "give --cert FILE --key FILE")
        if self._client_cert is None:
            return (f"the server refused the TLS handshake (TLS alert: {alert}); if it requires a client "
                    "certificate, give --cert FILE --key FILE")
        return f"the server refused the client certificate {self._client_cert} (TLS alert: {alert})"



class _PassphraseAsked(Exception):
    """OpenSSL asked for a passphrase that was not configured (instead of prompting on the terminal)."""


def tls_context(target: TargetSettings) -> ssl.SSLContext | bool:
    """What httpx's ``verify=`` gets: a context when a CA bundle or a client certificate is set. (A
    plain-HTTP target's transport loads no CA bundle at all: see ``_http._may_use_tls``.)"""
    if not target.client_cert and not (target.verify_tls and target.ca_bundle):
        return target.verify_tls
    if target.verify_tls and target.ca_bundle:
        try:
            context = ssl.create_default_context(cafile=target.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load CA bundle {target.ca_bundle}: {exc}") from exc
    else:
        context = httpx.create_ssl_context(verify=target.verify_tls, trust_env=False)
    if target.client_cert:
        problem = _load_client_certificate(context, target)
        if problem:
            raise ConfigError(problem)
    return context


def client_certificate_problem(target: TargetSettings) -> str | None:
    """Why the client certificate and key cannot be used (None: they can), found before any request."""
    return _load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), target)


def _load_client_certificate(context: ssl.SSLContext, target: TargetSettings) -> str | None:
    cert, key = str(target.client_cert), target.client_key
    asked = []

    def passphrase() -> str:
        asked.append(True)
        if target.client_key_password is None:
            raise _PassphraseAsked
        return target.client_key_password

    try:
        problem = _pem_problem(cert, "CERTIFICATE", "--cert") or _pem_problem(key or cert, "PRIVATE KEY",
                                                                               "--key" if key else "--cert")
        if problem:
            return problem
        context.load_cert_chain(cert, key, password=passphrase)
    except _PassphraseAsked:
        return (f"--key {key or cert}: the private key is encrypted; name the environment variable holding its "
                "passphrase with --key-password-env NAME")
    except OSError as exc:  # ssl.SSLError included
        reason = getattr(exc, "reason", None)
        if reason == "KEY_VALUES_MISMATCH":
            return f"--key {key or cert} does not belong to the certificate in --cert {cert}"
        if asked:
            return (f"--key {key or cert}: wrong passphrase (from the environment variable "
                    f"{target.client_key_password_env})")
        return f"--cert {cert} / --key {key or cert}: cannot be loaded: {exc.strerror or exc}"
    return None


def _pem_problem(path: str, kind: str, flag: str) -> str | None:
    try:
        with open(path, "rb") as file:
            text = file.read(1 << 20).decode("ascii", errors="replace")
    except OSError as exc:
        return f"{flag} {path}: cannot be read: {exc.strerror or exc}"
    if not any(line.startswith("-----BEGIN ") and line.rstrip().endswith(f"{kind}-----")
               for line in text.splitlines()):
        return f"{flag} {path}: no PEM {kind.lower()} in it (expected a '-----BEGIN ...{kind}-----' block)"
    return None
