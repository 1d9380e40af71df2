"""The embedded reference TMF699 server (``tmf699ctk serve``, ``run --embedded``)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from types import TracebackType

from .._apis import DEFAULT_VERSION, api_spec
from .._schemas import SchemaStore
from ._app import Handler, ReferenceHTTPServer, ServerState
from .faults import BY_NAME, FAULTS, Fault, parse_faults
from .faults_v5 import BY_NAME_V5, FAULTS_V5

DEFAULT_BASE_PATH = "/tmf-api/sales/v4"

__all__ = ["BY_NAME", "DEFAULT_BASE_PATH", "FAULTS", "FAULTS_V5", "Fault", "ReferenceServer", "faults_of",
           "parse_faults"]


def faults_of(api_version: str = DEFAULT_VERSION) -> tuple[Fault, ...]:
    """The fault catalogue of the reference server in ``api_version``'s mode."""
    return FAULTS_V5 if api_spec(api_version).major == "5" else FAULTS


def parse_faults_for(spec: str | None, api_version: str = DEFAULT_VERSION) -> frozenset[str]:
    """``a,b`` -> {a, b}, checked against ``api_version``'s catalogue (ValueError naming the unknown)."""
    if api_spec(api_version).major != "5":
        return parse_faults(spec)
    names = {n.strip() for n in (spec or "").split(",") if n.strip()}
    unknown = sorted(names - BY_NAME_V5.keys())
    if unknown:
        raise ValueError(f"unknown v5 fault(s) {', '.join(unknown)}; see `tmf699ctk serve --api-version 5.0.0 "
                         "--list-faults`")
    return frozenset(names)


class ReferenceServer:
    """A real HTTP server on a socket; ``port=0`` picks a free ephemeral port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        base_path: str = DEFAULT_BASE_PATH,
        faults: frozenset[str] = frozenset(),
        schemas: SchemaStore | None = None,
        tls: tuple[str, str] | None = None,
        events_to_callback: bool = False,
        tls_client_ca: str | None = None,
        api_version: str = DEFAULT_VERSION,
        accepted: bool = False,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """``tls``: (certificate chain PEM, private key PEM) to serve HTTPS instead of HTTP;
        ``events_to_callback``: POST events to the callback URL itself, not {callback}/listener/<name>;
        ``tls_client_ca``: with ``tls``, accept only clients presenting a certificate signed by this CA;
        ``api_version``: the TMF699 version served (its default base path unless ``base_path`` is given);
        ``accepted``: (v5) answer every write 202 Accepted and apply it a moment later;
        ``latency_ms``/``jitter_ms``: every request waits that long (plus up to the jitter) before it
        is handled; ``log``: receives one line per request answered."""
        if tls_client_ca and tls is None:
            raise ValueError("tls_client_ca needs tls: mutual TLS is HTTPS")
        api = api_spec(api_version)
        if base_path == DEFAULT_BASE_PATH:
            base_path = api.default_base_path
        if schemas is None or schemas.spec != api.schemas:
            schemas = SchemaStore.load(api.schemas)
        handler_class: type[Handler] = Handler
        if api.major == "5":
            from ._v5 import V5Handler, V5State

            self.state: ServerState = V5State(base_path, faults, schemas, events_to_callback, accepted, api)
            handler_class = V5Handler
        else:
            self.state = ServerState(base_path, faults, schemas, events_to_callback)
        self.state.latency_ms, self.state.jitter_ms, self.state.log = latency_ms, jitter_ms, log
        self.api_version = api.version
        handler = type("BoundHandler", (handler_class,), {"state": self.state})
        self.httpd = ReferenceHTTPServer((host, port), handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            if tls_client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=tls_client_ca)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        bound_host, bound_port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.state.public_origin = f"{'https' if tls else 'http'}://{shown}:{bound_port}"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return self.state.public_origin + self.state.base_path

    def start(self) -> ReferenceServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="tmf699-reference",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.state.events.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | None) -> None:
        self.stop()
