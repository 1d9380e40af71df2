"""A hostile TMF699 server: a real socket on 127.0.0.1 that misbehaves in one of many ways.

Each mode is a small function answering one parsed request. Modes that need a working API wrap
the reference server (the request is relayed to it and its answer distorted); the others write
raw bytes. Every request line received is recorded (``server.requests``), so a test can prove the
kit never left the base path; a second socket, the trap (``server.trap``), records anything sent
to the other origin the hostile answers point at.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tmf699ctk.server import ReferenceServer

BASE_PATH = "/tmf-api/sales/v4"
MIB = 1 << 20


@dataclass
class Request:
    method: str
    target: str  # as sent on the request line, not decoded
    headers: list[tuple[str, str]]
    body: bytes
    conn: socket.socket
    server: HostileServer

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Mode:
    name: str
    kind: str  # the class of issue 8 it exercises: data, bounds, api, secrets, transport
    description: str
    answer: Callable[[Request], bool]  # writes the answer; False closes the connection
    unreachable: bool = False  # the kit should call the target unreachable (exit 3), not just failing (exit 1)
    tls: bool = False  # the socket speaks TLS (the kit is pointed at it with http://)
    prepare: Callable[[], object] | None = None  # built before the server listens (not on the kit's clock)


# -- writing answers ------------------------------------------------------------------------------


def write(req: Request, data: bytes) -> None:
    req.conn.sendall(data)


def respond(req: Request, status: int, reason: str | bytes, headers: list[tuple[str, str]] | None = None,
            body: bytes = b"", content_type: str | None = "application/json;charset=utf-8") -> bool:
    reason_bytes = reason if isinstance(reason, bytes) else reason.encode("latin-1")
    head = [b"HTTP/1.1 %d %s" % (status, reason_bytes)]
    if content_type:
        head.append(f"Content-Type: {content_type}".encode("latin-1"))
    for name, value in headers or []:
        head.append(f"{name}: {value}".encode("utf-8", "surrogateescape"))
    head.append(b"Content-Length: %d" % len(body))
    write(req, b"\r\n".join(head) + b"\r\n\r\n" + body)
    return True


def upstream(req: Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """Relay the request to the wrapped reference server: (status, reason, headers, body)."""
    server = req.server.reference
    assert server is not None
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {k: v for k, v in req.headers if k.lower() not in ("host", "connection", "accept-encoding")}
        conn.request(req.method, req.target, body=req.body or None, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        kept = [(k, v) for k, v in answer.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-type")]
        return answer.status, answer.reason, kept, body
    finally:
        conn.close()


def relay(req: Request, distort: Callable[[Any], Any] | None = None, **extra: Any) -> bool:
    """Answer as the reference server does, with the JSON body passed through ``distort``."""
    status, reason, headers, body = upstream(req)
    if distort is not None and body:
        body = json.dumps(distort(json.loads(body)), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return respond(req, status, reason, headers + list(extra.get("headers", [])), body,
                   extra.get("content_type", "application/json;charset=utf-8"))


def each_lead(change: Callable[[dict[str, Any]], None]) -> Callable[[Any], Any]:
    """A distortion applied to every lead of a body (one lead, or a list of them)."""
    def distort(data: Any) -> Any:
        for lead in data if isinstance(data, list) else [data]:
            if isinstance(lead, dict) and "id" in lead and "href" in lead:
                change(lead)
        return data
    return distort


def deep(levels: int, leaf: Any = 0) -> bytes:
    """JSON text nested ``levels`` deep (built as text: json.dumps would recurse)."""
    return b'{"a":' * levels + json.dumps(leaf).encode() + b"}" * levels


# -- the modes ------------------------------------------------------------------------------------


def _control_chars(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] += "\x00\x07\x1b[2J\r\nX-Injected: yes"
        lead["href"] += "\x00\x1b[31m\r\n"
        lead["name"] = "\x00\x01\x02\x7f\u202e\ufeff" + lead.get("name", "")
    return relay(req, each_lead(change))


def _long_values(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] += "x" * 70_000
        lead["href"] += "y" * 70_000
    return relay(req, each_lead(change), headers=[("X-Long", "z" * 70_000)])


def _deep_json(req: Request) -> bool:
    if req.method == "DELETE":
        return relay(req)
    return respond(req, 201 if req.method == "POST" else 200, "OK", body=b"[" * 100_000 + b"]" * 100_000)


def _deep_but_allowed(req: Request) -> bool:
    """A lead whose note nests 95 levels: under the kit's limit, so every check must cope with it."""
    def change(lead: dict[str, Any]) -> None:
        lead["characteristic"] = "@DEEP@"
    status, reason, headers, body = upstream(req)
    if body:
        text = json.dumps(each_lead(change)(json.loads(body))).encode()
        body = text.replace(b'"@DEEP@"', deep(95))
    return respond(req, status, reason, headers, body)


def _invalid_utf8(req: Request) -> bool:
    status, reason, headers, body = upstream(req)
    if body:
        body = body.replace(b'"name": "', b'"name": "\xff\xfe\xc3(\xe2\x82', 1) + b"\xf0\x9f"
    return respond(req, status, reason, headers, body)


def _odd_charset(req: Request) -> bool:
    charset = "rot13" if req.method == "POST" else "x-no-such-charset"
    return relay(req, content_type=f"application/json; charset={charset}")


def _wrong_types(req: Request) -> bool:
    status, reason, headers, _ = upstream(req)
    if req.method == "DELETE":
        return respond(req, status, reason, headers, b"")
    wrong: Any = {"id": 12345, "href": ["not", "a", "url"], "name": {"a": 1}, "status": None,
                  "creationDate": True, "relatedParty": "nobody", "note": 7.5, "@type": 0}
    if req.method == "GET" and "?" in req.target:
        wrong = {"items": wrong, "count": "many"}
    return respond(req, status, reason, [("X-Total-Count", "-1"), ("X-Result-Count", "NaN")],
                   json.dumps(wrong).encode())


def _lone_surrogates(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["name"] = "\ud800 lone \udfff"
        lead["description"] = "\udc80"
    status, reason, headers, body = upstream(req)
    if body:
        body = json.dumps(each_lead(change)(json.loads(body))).encode()  # ASCII escapes: "\ud800"
    return respond(req, status, reason, headers, body)


def _informational(req: Request) -> bool:
    write(req, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n")
    return relay(req)


def _status_599(req: Request) -> bool:
    return respond(req, 599, b"Network \xffConnect\x80 Timeout \x7f", body=b'{"code": "599"}')


def _redirect_elsewhere(req: Request) -> bool:
    trap = req.server.trap_url
    return respond(req, 307, "Temporary Redirect", [("Location", f"{trap}{BASE_PATH}/salesLead?steal=1")],
                   content_type=None)


def _many_headers(req: Request) -> bool:
    return relay(req, headers=[(f"X-H{i}", f"value {i}") for i in range(3000)])


def _header_flood(req: Request) -> bool:
    write(req, b"HTTP/1.1 200 OK\r\n" + b"X-Flood: " + b"f" * 200_000 + b"\r\n\r\n")
    return False


def _slow_headers(req: Request) -> bool:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}":
        write(req, bytes([byte]))
        time.sleep(0.25)
    return False


def _slow_body(req: Request) -> bool:
    write(req, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[")
    for _ in range(999):
        time.sleep(0.5)
        write(req, b" ")
    return False


def _reset_mid_body(req: Request) -> bool:
    write(req, b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
               + b'{"id": "' + b"a" * 100)
    req.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return False  # closing with SO_LINGER 0 sends a RST


def _close_before_answer(req: Request) -> bool:
    return False


def _not_http(req: Request) -> bool:
    write(req, b"SSH-2.0-OpenSSH_9.6 hostile\r\n")
    return False


def _huge_body(req: Request) -> bool:
    write(req, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (100 * MIB))
    block = b"[" + b"0," * (MIB // 2 - 1) + b"0"
    for _ in range(100):
        write(req, block[:MIB])
    return False


def _endless_chunked(req: Request) -> bool:
    write(req, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (MIB, b"{" * MIB)
    while not req.server.stopped.is_set():
        write(req, chunk)
    return False


def _gzip_bomb(req: Request) -> bool:
    bomb = gzip_bomb()
    return respond(req, 200, "OK", [("Content-Encoding", "gzip")], bomb)


@cache
def gzip_bomb() -> bytes:
    """256 MiB of spaces, gzipped to about 250 KiB."""
    with tempfile.SpooledTemporaryFile() as out:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packer:
            block = b" " * MIB
            for _ in range(256):
                packer.write(block)
        out.seek(0)
        return out.read()


def _many_small_values(req: Request) -> bool:
    """15 MiB of tiny JSON objects: under the size cap, but millions of values to parse."""
    if req.method == "DELETE":
        return relay(req)
    return respond(req, 201 if req.method == "POST" else 200, "OK",
                   body=b"[" + b"{}," * (5 * MIB) + b"{}]")


def _large_valid_leads(req: Request) -> bool:
    """Every lead carries a 15 MiB extra attribute: each body is valid, and each saved lead is large."""
    def change(lead: dict[str, Any]) -> None:
        lead["padding"] = "d" * (15 * MIB)  # an attribute the kit did not send: allowed; just under the cap
    return relay(req, each_lead(change))


def _id_traversal(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] = "../../../admin/reset"
        lead["href"] = f"{req.server.url}/salesLead/..%2F..%2F..%2Fadmin%2Freset"
    return relay(req, each_lead(change))


def _id_dot_dot(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] = ".."
        lead["href"] = f"{req.server.url}/salesLead/.."
    return relay(req, each_lead(change))


def _id_empty(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] = ""
        lead["href"] = f"{req.server.url}/salesLead/"
    return relay(req, each_lead(change))


def _id_null(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["id"] = None
    return relay(req, each_lead(change))


def _href_elsewhere(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["href"] = f"{req.server.trap_url}{BASE_PATH}/salesLead/{lead['id']}"
    return relay(req, each_lead(change))


def _href_outside_base(req: Request) -> bool:
    def change(lead: dict[str, Any]) -> None:
        lead["href"] = f"{req.server.origin}/admin/salesLead/{lead['id']}"
    return relay(req, each_lead(change))


def _echo_secrets(req: Request) -> bool:
    """Echoes every request header back: in response headers, and in the message of an error body."""
    echoed = "; ".join(f"{k}={v}" for k, v in req.headers)

    def change(body: Any) -> Any:
        if isinstance(body, dict) and "message" in body:
            body["message"] += f" (you sent: {echoed})"
        return body
    return relay(req, change, headers=[(f"X-Echo-{k}", v) for k, v in req.headers])


def _tls_port(req: Request) -> bool:
    return relay(req)


MODES: tuple[Mode, ...] = (
    Mode("control-chars", "data", "control characters, ANSI escapes and CRLF in id, href and name", _control_chars),
    Mode("long-values", "data", "70 000-character id, href and header value", _long_values),
    Mode("deep-json", "data", "every body is an array nested 100 000 deep", _deep_json),
    Mode("deep-json-allowed", "data", "a lead with a value nested 95 levels (just under the limit)",
         _deep_but_allowed),
    Mode("invalid-utf8", "data", "invalid UTF-8 inside a JSON body declared UTF-8", _invalid_utf8),
    Mode("odd-charset", "data", "charset=rot13 (not a text encoding) and an unknown charset", _odd_charset),
    Mode("wrong-types", "data", "every attribute of the wrong JSON type, count headers not numbers", _wrong_types),
    Mode("lone-surrogates", "data", "\\ud800-style lone surrogates in string values", _lone_surrogates),
    Mode("informational", "data", "100 Continue and 103 Early Hints before each answer", _informational),
    Mode("status-599", "data", "599 with a reason phrase of raw bytes and control characters", _status_599),
    Mode("redirect-elsewhere", "api", "307 to another origin (credentials must not follow)", _redirect_elsewhere),
    Mode("many-headers", "data", "3 000 response headers", _many_headers),
    Mode("header-flood", "bounds", "a 200 KB header line (beyond what a client parses)", _header_flood),
    Mode("slow-headers", "bounds", "the status line and headers dripped one byte every 0.25 s", _slow_headers),
    Mode("slow-body", "bounds", "headers at once, then the body one byte every 0.5 s", _slow_body),
    Mode("reset-mid-body", "transport", "a connection reset after 100 of 5 000 body bytes", _reset_mid_body),
    Mode("close-before-answer", "transport", "the connection closed without an answer", _close_before_answer),
    Mode("not-http", "transport", "an SSH banner instead of HTTP", _not_http),
    Mode("huge-body", "bounds", "a 100 MiB body", _huge_body),
    Mode("endless-chunked", "bounds", "a chunked body that never ends", _endless_chunked),
    Mode("gzip-bomb", "bounds", "256 MiB of spaces gzipped to 250 KiB", _gzip_bomb, prepare=gzip_bomb),
    Mode("many-small-values", "bounds", "15 MiB of empty objects in one array", _many_small_values),
    Mode("large-valid-leads", "bounds", "valid leads with a 15 MiB extra attribute each", _large_valid_leads),
    Mode("id-traversal", "api", "the created lead's id is ../../../admin/reset", _id_traversal),
    Mode("id-dot-dot", "api", "the created lead's id is ..", _id_dot_dot),
    Mode("id-empty", "api", "the created lead's id is \"\" (its href the collection's URL)", _id_empty),
    Mode("id-null", "api", "the created lead's id is null", _id_null),
    Mode("href-elsewhere", "api", "href points at another origin (the trap)", _href_elsewhere),
    Mode("href-outside-base", "api", "href points outside the base path on the same origin", _href_outside_base),
    Mode("echo-secrets", "secrets", "every request header echoed in response headers and error bodies",
         _echo_secrets),
    Mode("tls-port", "transport", "the port speaks TLS; the kit is told http://", _tls_port, unreachable=True,
         tls=True),
)
BY_NAME = {m.name: m for m in MODES}


# -- the server -----------------------------------------------------------------------------------


@cache
def certificate() -> tuple[str, str] | None:
    """A self-signed certificate for 127.0.0.1 (None without the openssl command)."""
    if shutil.which("openssl") is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="ctk-hostile-pki-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
                    "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   cwd=folder, check=True, capture_output=True)
    return str(folder / "cert.pem"), str(folder / "key.pem")


class Recorder:
    """A socket that records the first line of whatever connects to it (the trap)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self.lines.append(conn.recv(65536).split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


@dataclass
class HostileServer:
    """The hostile server for one mode (a context manager: started on entry, stopped on exit)."""

    mode: Mode
    base_path: str = BASE_PATH
    requests: list[str] = field(default_factory=list)  # every request line: "METHOD target"
    garbage: int = 0  # connections that sent no HTTP request (e.g. the kit's TLS probe)
    reference: ReferenceServer | None = None
    trap: Recorder | None = None
    _sock: socket.socket | None = None
    _conns: list[socket.socket] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    _context: ssl.SSLContext | None = None

    @property
    def origin(self) -> str:
        assert self._sock is not None
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def url(self) -> str:
        return self.origin + self.base_path

    @property
    def trap_url(self) -> str:
        assert self.trap is not None
        return self.trap.url

    def outside(self) -> list[str]:
        """Request lines outside the base path, or with a dot segment once decoded."""
        from urllib.parse import unquote, urlsplit

        bad = []
        for line in self.requests:
            path = urlsplit(line.split(" ", 1)[-1]).path
            segments = unquote(path).replace("\\", "/").split("/")
            if not (path == self.base_path or path.startswith(self.base_path + "/")) \
                    or any(s in (".", "..") for s in segments):
                bad.append(line)
        return bad

    def __enter__(self) -> HostileServer:
        if self.mode.prepare is not None:
            self.mode.prepare()
        if self.mode.tls:
            pki = certificate()
            if pki is None:
                raise RuntimeError("the tls-port mode needs the openssl command")
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(*pki)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.reference = ReferenceServer(base_path=self.base_path).start()
        self.reference.state.public_origin = self.origin  # hrefs name this server, not the one behind it
        self.trap = Recorder()
        threading.Thread(target=self._accept, daemon=True, name=f"hostile-{self.mode.name}").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        assert self._sock is not None
        self._sock.close()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self.reference:
            self.reference.stop()
        if self.trap:
            self.trap.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            for req in self._requests(conn):
                if not self.mode.answer(req):
                    break
        except (OSError, ValueError):
            pass  # the kit hung up (deadline, cap): that is its right
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _requests(self, conn: socket.socket) -> Iterator[Request]:
        buffered = b""
        while not self.stopped.is_set():
            while b"\r\n\r\n" not in buffered:
                data = conn.recv(65536)
                if not data or len(buffered) > 1 << 20:
                    return
                buffered += data
            head, buffered = buffered.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                self.garbage += 1
                return
            headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
            while len(buffered) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buffered += data
            body, buffered = buffered[:length], buffered[length:]
            self.requests.append(f"{parts[0]} {parts[1]}")
            yield Request(parts[0], parts[1], headers, body, conn, self)
