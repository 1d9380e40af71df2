"""A real OAuth2 token endpoint (RFC 6749 §4.4) and a bearer-token guard for the reference server.

Both run on 127.0.0.1 with ephemeral ports, in the test process: the guard asks the token server
directly whether a token is valid (what an API gateway asks its identity provider).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tmf699ctk.server import ReferenceServer

from .servers import LoopbackServer

CLIENT_ID = "ctk-client"
CLIENT_SECRET = "Cl1ent-S3cret-for-tests-7781"


@dataclass
class TokenRequest:
    """One request the token endpoint received, as it understood it."""

    client_auth: str  # "basic" (client_secret_basic), "body" (client_secret_post) or "none"
    grant_type: str | None
    scope: str | None
    audience: str | None
    content_type: str


@dataclass
class TokenServer:
    """``fail``: answer every request with this instead of a token: invalid_client (401 with the
    OAuth2 error), server_error (500, an HTML page), not_json (200, an HTML login page) or
    no_token (200, JSON without access_token)."""

    expires_in: int | str | None = 3600  # what the answers announce
    fail: str | None = None
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    requests: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    _expiry: dict[str, float] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/oauth2/token"

    def is_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
            return expiry is not None and token not in self._revoked and time.monotonic() < expiry

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def issue(self) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self.issued.append(token)
            lifetime = self.expires_in if isinstance(self.expires_in, int) and self.expires_in < 86400 else 86400
            self._expiry[token] = time.monotonic() + lifetime
        return token

    def __enter__(self) -> TokenServer:
        owner = self

        class Handler(_TokenHandler):
            server_owner = owner

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


class _TokenHandler(BaseHTTPRequestHandler):
    server_owner: TokenServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        owner = self.server_owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        if self.path != "/oauth2/token":
            return self._json(404, {"error": "not_found"})
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        basic = self._basic_credentials()
        in_body = "client_secret" in form
        owner.requests.append(TokenRequest(
            client_auth="basic" if basic else "body" if in_body else "none", grant_type=form.get("grant_type"),
            scope=form.get("scope"), audience=form.get("audience"),
            content_type=self.headers.get("Content-Type", "")))
        if owner.fail == "invalid_client":
            return self._json(401, {"error": "invalid_client", "error_description": "Client authentication failed"},
                              {"WWW-Authenticate": 'Basic realm="token"'})
        if owner.fail == "server_error":
            return self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        if owner.fail == "not_json":
            return self._send(200, b"<html><body>Please log in</body></html>", "text/html")
        if owner.fail == "no_token":
            return self._json(200, {"token_type": "Bearer", "expires_in": 3600})
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return self._json(400, {"error": "invalid_request", "error_description": "form body expected"})
        if form.get("grant_type") != "client_credentials":
            return self._json(400, {"error": "unsupported_grant_type"})
        if basic and in_body:  # RFC 6749 §2.3: one authentication method per request
            return self._json(400, {"error": "invalid_request", "error_description": "two client authentications"})
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        if (client_id, secret) != (owner.client_id, owner.client_secret):
            return self._json(401, {"error": "invalid_client", "error_description": "Client authentication failed"},
                              {"WWW-Authenticate": 'Basic realm="token"'})
        answer: dict[str, Any] = {"access_token": owner.issue(), "token_type": "Bearer"}
        if owner.expires_in is not None:
            answer["expires_in"] = owner.expires_in
        self._json(200, answer, {"Cache-Control": "no-store"})

    def _basic_credentials(self) -> tuple[str, str] | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        client_id, _, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
        return client_id, secret

    def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class BearerGuard:
    """What an API gateway does: a request without a valid bearer token is answered 401.

    ``revoke_after``: revoke the token in use once this many requests were accepted with it;
    ``refuse_all``: refuse every token (a gateway expecting another audience), echoing the token
    in the 401 body as careless gateways do."""

    tokens: TokenServer
    revoke_after: int | None = None
    refuse_all: bool = False
    accepted: int = 0
    refused: int = 0
    authorizations: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            self.authorizations.append(authorization)
            if self.refuse_all or scheme.lower() != "bearer" or not self.tokens.is_valid(token):
                self.refused += 1
                return False
            self.accepted += 1
            if self.revoke_after is not None and self.accepted >= self.revoke_after:
                self.tokens.revoke(token)
                self.revoke_after = None
            return True

    def install(self, server: ReferenceServer) -> BearerGuard:
        """Put the guard in front of every request the reference server answers."""
        guard = self
        base = server.httpd.RequestHandlerClass

        class Guarded(base):  # type: ignore[valid-type, misc]
            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                authorization = self.headers.get("Authorization", "")
                if guard.admit(authorization):
                    return True
                # read the body first: an unread body would be taken for the next request
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = authorization.partition(" ")[2]
                body = json.dumps({"code": "401", "reason": "Unauthorized",
                                   "message": f"token {token} is not valid for this API"}).encode()
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return False

        server.httpd.RequestHandlerClass = Guarded
        return self


class ForwardProxy:
    """A plain-HTTP forward proxy (absolute-form request lines) that records every URL it carried."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                import http.client
                from urllib.parse import urlsplit

                owner.urls.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                upstream = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
                headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
                upstream.request(self.command, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                                 headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
