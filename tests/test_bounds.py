"""The kit's bounds, one module at a time: send()'s deadline, abort and body cap against real
sockets, the base-URL fence, template limits, the JSON limits, bounded messages, secret forms."""

from __future__ import annotations

import base64
import gzip
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tmf699ctk import _http
from tmf699ctk._compare import differences, short
from tmf699ctk._http import INTERRUPTED, LargeBodyPermit, TargetHealth, outside_base, send, watched
from tmf699ctk._redact import MASK, Redactor, writable
from tmf699ctk._results import Leftover
from tmf699ctk._safejson import MAX_DEPTH, TooDeep, TooMany, loads
from tmf699ctk._templating import MAX_OUTPUT, TemplateProblem, render, render_path


@contextmanager
def raw_server(answer: bytes, then: bytes = b"", every: float = 0.0) -> Iterator[str]:
    """Answers each connection with ``answer``, then ``then`` one byte every ``every`` seconds."""
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(answer)
                for byte in then:
                    if stop.wait(every):
                        return
                    conn.sendall(bytes([byte]))
                stop.wait(30)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    finally:
        stop.set()
        sock.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


# -- send(): one deadline, abort at once, the body cap -------------------------------------------------


def test_the_client_is_routed_through_the_deadline_aware_backend() -> None:
    """The deadline on every socket operation depends on it: an httpx upgrade that breaks it fails here."""
    with httpx.Client() as client:
        assert watched(client)


def test_a_body_dripped_byte_by_byte_ends_at_the_deadline_keeping_status_and_headers() -> None:
    with raw_server(HEAD + b"Content-Length: 100\r\n\r\n[", then=b" " * 99, every=0.1) as url, httpx.Client() as client:
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=0.5)
    assert exchange.error is not None and "timed out after" in exchange.error and "cut short after" in exchange.error
    assert exchange.response is not None and exchange.response.status == 200 and exchange.response.truncated


def test_headers_dripped_byte_by_byte_end_at_the_deadline() -> None:
    with raw_server(b"", then=HEAD + b"Content-Length: 0\r\n\r\n", every=0.1) as url, httpx.Client() as client:
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=0.5)
    assert exchange.response is None and exchange.error is not None and exchange.error.startswith("timed out after")


def test_the_abort_event_ends_an_exchange_in_flight_at_once() -> None:
    abort = threading.Event()
    with raw_server(b"") as url, httpx.Client() as client:
        threading.Timer(0.3, abort.set).start()
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=60, abort=abort)
    assert exchange.error is not None and exchange.error.startswith(INTERRUPTED)


def test_a_body_beyond_the_cap_is_recorded_truncated_with_a_prefix() -> None:
    body = b"[" + b"0," * 100_000 + b"0]"
    answer = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with raw_server(answer) as url, httpx.Client() as client:
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=5, max_body=64 * 1024)
    assert exchange.error is None and exchange.response is not None and exchange.response.truncated
    assert exchange.response.size == 64 * 1024 and len(exchange.response.body) <= 64 * 1024


def test_a_gzip_bomb_is_inflated_only_up_to_the_cap() -> None:
    bomb = gzip.compress(b" " * (64 << 20))
    answer = HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
    with raw_server(answer) as url, httpx.Client() as client:
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=10, max_body=1 << 20)
    assert exchange.response is not None and exchange.response.truncated and exchange.response.size == 1 << 20


def test_a_step_holding_the_large_body_permit_can_read_another_large_body() -> None:
    """A reducing step keeps its large body while a probe's DELETE answers with another one."""
    body = b"[" + b"0," * 150_000 + b"0]"
    answer = HEAD + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    permit = LargeBodyPermit()
    try:
        with raw_server(answer) as url, httpx.Client() as client:
            first = send(client, "GET", url, health=TargetHealth(), timeout=10, permit=permit)
            assert permit.held
            second = send(client, "DELETE", url, health=TargetHealth(), timeout=10)  # would wait if not re-entrant
    finally:
        permit.release()  # held by this thread: later tests in this process must not wait for it
    assert first.response is not None and second.response is not None and second.response.size == len(body)


def test_a_permit_never_released_by_another_thread_delays_but_never_hangs_a_read(monkeypatch) -> None:
    monkeypatch.setattr(_http, "PERMIT_PATIENCE", 0.5)
    body = b"[" + b"0," * 150_000 + b"0]"
    answer = HEAD + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:  # a thread that reads a large body and keeps its permit until told
        permit = LargeBodyPermit()
        with httpx.Client() as client:
            send(client, "GET", url, health=TargetHealth(), timeout=10, permit=permit)
        holding.set()
        done.wait(30)
        permit.release()

    with raw_server(answer) as url, httpx.Client() as client:
        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(10)
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=0.5)
        done.set()
        holder.join()
    assert exchange.error is None and exchange.response is not None and exchange.response.size == len(body)


def test_an_unknown_or_binary_charset_is_read_as_utf8() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=rot13\r\nContent-Length: 9\r\n\r\n" \
             b'{"a":"\xff"}'
    with raw_server(answer) as url, httpx.Client() as client:
        exchange = send(client, "GET", url, health=TargetHealth(), timeout=5)
    assert exchange.response is not None and exchange.response.body == '{"a":"\ufffd"}'


@pytest.mark.parametrize(("url", "says"), [
    ("http://nonexistent.invalid/api", "cannot resolve the host name 'nonexistent.invalid' (DNS failure"),
    ("http://127.0.0.1:1/api", "cannot connect to 127.0.0.1:1: connection refused"),
])
def test_an_unreachable_target_is_named_with_its_cause(url: str, says: str) -> None:
    health = TargetHealth()
    with httpx.Client() as client:
        exchange = send(client, "GET", url, health=health, timeout=5)
    assert exchange.error is not None and exchange.error.startswith(says) and "None" not in exchange.error
    assert health.unreachable == exchange.error and health.never_reached(exchange)


def test_tls_spoken_to_a_plain_port_is_named() -> None:
    with raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as url, httpx.Client() as client:
        exchange = send(client, "GET", url.replace("http:", "https:"), health=TargetHealth(), timeout=5)
    assert exchange.error is not None and "does not speak TLS on this port" in exchange.error


def test_a_value_no_url_can_carry_is_recorded_not_raised() -> None:
    with httpx.Client() as client:
        exchange = send(client, "GET", "http://127.0.0.1:1/a\x00b", health=TargetHealth(), timeout=1,
                        headers={"X-Bad": "a\r\nInjected: yes"})
    assert exchange.error is not None and exchange.error.startswith("not sent")


# -- the fence around the API -----------------------------------------------------------------------------

BASE = "http://127.0.0.1:8699/tmf-api/sales/v4"


@pytest.mark.parametrize("url", [
    BASE + "/salesLead/abc", BASE, BASE + "/salesLead/a%2Fb", BASE + "/salesLead/x..y", BASE + "/x?y=../..",
])
def test_urls_under_the_base_url_are_allowed(url: str) -> None:
    assert outside_base(url, BASE) is None


@pytest.mark.parametrize(("url", "says"), [
    ("http://127.0.0.1:9999/tmf-api/sales/v4/salesLead/x", "another origin"),
    ("https://127.0.0.1:8699/tmf-api/sales/v4/salesLead/x", "another origin"),
    ("http://127.0.0.1:8699/tmf-api/sales/v40/salesLead", "outside the base path"),
    ("http://127.0.0.1:8699/admin/reset", "outside the base path"),
    (BASE + "/salesLead/../../../admin/reset", "'..' segment"),
    (BASE + "/salesLead/%2e%2e", "'..' segment"),
    (BASE + "/salesLead/..%2F..%2Fadmin", "'..' segment"),
    (BASE + "/salesLead/..%5C..%5Cadmin", "'..' segment"),
    ("http://[::1", "not a valid URL"),
])
def test_urls_that_leave_the_api_are_refused(url: str, says: str) -> None:
    why = outside_base(url, BASE)
    assert why is not None and says in why


def test_path_values_are_one_segment_each_and_named() -> None:
    path, values = render_path("/salesLead/{{ lead.id }}", {"lead": {"id": "../../admin/reset?x=1#y"}})
    assert path == "/salesLead/..%2F..%2Fadmin%2Freset%3Fx%3D1%23y" and values == ["../../admin/reset?x=1#y"]


def test_a_leftover_never_offers_a_delete_that_would_leave_it_or_hit_the_collection() -> None:
    assert Leftover(BASE + "/salesLead/abc", "abc", "n", "r").curl() == f"curl -X DELETE {BASE}/salesLead/abc"
    assert Leftover(BASE + "/salesLead/..", "..", "n", "r").curl().startswith("#")
    lookup = Leftover(BASE + "/salesLead", None, "CTK lead 1", "r").curl()
    assert lookup == f"curl -G {BASE}/salesLead --data-urlencode 'name=CTK lead 1'"


# -- templates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [
    "{{ 'a' * 10**9 }}", "{{ [1] * 10**9 }}", "{{ 'a' | center(10**9) }}", "{{ 'a'.ljust(10**9) }}",
    "{{ '%1000000000d' % 1 }}", "{{ '{:>1000000000}'.format(1) }}", "{{ ('a' * 1000000) | replace('a', 'bb') }}",
    "{% for i in [1] * 1000 %}{{ 'a' * 100000 }}{% endfor %}", "{{ [1] | batch(10**9, 'x') | list }}",
])
def test_a_template_beyond_the_size_limit_is_refused_before_it_is_built(template: str) -> None:
    with pytest.raises(TemplateProblem, match="would exceed the template size limit"):
        render(template, {})


@pytest.mark.parametrize("template", ["{{ 1 / 0 }}", "{{ 'a' + 1 }}", "x {{ 10 ** 5000 }}"])
def test_a_failing_expression_is_a_template_problem(template: str) -> None:
    with pytest.raises(TemplateProblem, match="cannot render"):
        render(template, {})


def test_values_up_to_the_limit_still_render() -> None:
    assert len(render("{{ 'a' * n }}", {"n": MAX_OUTPUT})) == MAX_OUTPUT


# -- JSON from a server and what is made of it -----------------------------------------------------------


def test_json_nested_too_deep_is_refused_with_a_reason() -> None:
    with pytest.raises(TooDeep, match="more than 100 levels"):
        loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TooDeep):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_json_with_millions_of_values_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(TooMany, match="too many values"):
        loads("[" + "{}," * 2_000_000 + "{}]")


def test_short_and_differences_are_bounded_for_any_value() -> None:
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    assert len(short(deep)) <= 80 and len(short(list(range(10**6)))) <= 80
    assert short({"a": 1, "b": [1, "x"]}) == repr({"a": 1, "b": [1, "x"]})
    nested: dict = {}
    node2 = nested
    for _ in range(5000):
        node2["a"] = {}
        node2 = node2["a"]
    assert "not compared further" in differences(nested, nested)[0]


# -- secrets --------------------------------------------------------------------------------------------------


def test_every_form_of_a_secret_is_masked() -> None:
    r = Redactor()
    r.add_credentials("ctk", 'p@ss w"rd')
    r.add_url_userinfo("https://url-user:url%40pass@host/api")
    pair = base64.b64encode(b'ctk:p@ss w"rd').decode()
    url_pair = base64.b64encode(b"url-user:url@pass").decode()
    for text in ('p@ss w"rd', "p%40ss%20w%22rd", 'p@ss w\\"rd', f"Basic {pair}", pair, "url%40pass", "url@pass",
                 f"Basic {url_pair}"):
        assert r.text(f"<{text}>") == f"<{MASK}>", text


def test_a_lone_surrogate_becomes_an_escape_every_file_can_hold() -> None:
    assert writable("a\ud800b") == "a\\ud800b" and writable("plain") == "plain"


# -- a `save ... matches` pattern against what a server sends ------------------------------------


def _cursor_pattern() -> str:
    from tmf699ctk._scenarios import load_scenarios

    patterns = {source["matches"] for s in load_scenarios() for step in s.steps
                for source in step.save.values() if isinstance(source, dict) and "matches" in source}
    assert len(patterns) == 1, patterns  # the v5 suite's cursor, read from its Link header
    return patterns.pop()


@pytest.mark.parametrize(("link", "cursor"), [
    ('<https://h/tmf-api/x?after=abc&limit=2>; rel="next", <https://h/tmf-api/x?before=z>; rel="prev"', "abc"),
    ("<https://h/x?limit=1&after=Zz9>; rel=next", "Zz9"),
    ('<https://h/x?after=p1>; rel="prev", <https://h/x?after=n1>; rel="next"', "n1"),
    ('<https://h/x?after=p1>; rel="prev"', None),
    ('<https://h/x?after=1700000000,42&limit=1>; rel="next"', "1700000000,42"),  # a keyset cursor
])
def test_the_cursor_is_the_after_of_the_link_whose_rel_is_next(link: str, cursor: str | None) -> None:
    import re

    found = re.search(_cursor_pattern(), link)
    assert (found.group(1) if found else None) == cursor


def test_no_link_header_a_server_sends_makes_the_cursor_search_hang() -> None:
    """20 KB of '?after=a' kept the earlier pattern searching for 190 s, holding the GIL (no deadline,
    not even --max-time, could act). The kit searches a bounded prefix of a header; here the pattern
    gets twice that prefix, in a child process: the earlier pattern would still be searching (about
    100 s for each attack) when the test gives up on it, 60 s later (a bound, not a timing)."""
    import subprocess
    import sys

    script = ("import re, sys\nfrom tmf699ctk._runner import MATCHED_PREFIX\n"
              "for attack in ('?after=a', '<?after=a', '&after=a>r', '?after=a>;rel'):\n"
              "    value = attack * ((1 << 20) // len(attack))  # 1 MiB, of which the kit searches a prefix\n"
              "    assert re.search(sys.argv[1], value[:2 * MATCHED_PREFIX]) is None, attack\n")
    done = subprocess.run([sys.executable, "-c", script, _cursor_pattern()], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("text", "says"), [
    ('{"value": NaN}', "NaN is not JSON"),
    (b'{"value": [Infinity]}', "Infinity is not JSON"),
    ('{"value": -Infinity}', "-Infinity is not JSON"),
    ('{"value": ' + "9" * 5000 + "}", "an integer of more than 4,300 digits"),
])
def test_what_only_python_reads_as_json_is_not_json(text: str | bytes, says: str) -> None:
    """NaN and Infinity are Python's extensions (no other parser takes them, and NaN equals nothing,
    so a check would say "expected nan, got nan"); an integer beyond Python's digit limit is refused
    with Python's advice to Python programmers. Each is refused with what a report reader needs."""
    with pytest.raises(ValueError) as refused:
        loads(text)
    assert says in str(refused.value) and "sys.set_int_max_str_digits" not in str(refused.value)


@pytest.mark.parametrize("padding", [0, 9000])
def test_a_cursor_is_searched_for_in_the_first_8_kib_of_the_link_header_only(
        tmp_path: Path, padding: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a server puts in a header the kit searches with a pattern is bounded (MATCHED_PREFIX): a
    next link 9,000 characters into the Link header is not found (the cursor feature is then
    declined), one at its start is, and the cursor is followed."""
    from tmf699ctk._runner import MATCHED_PREFIX
    from tmf699ctk.server import ReferenceServer, _v5

    from .conftest import run_suite

    assert padding > MATCHED_PREFIX or padding == 0
    links = _v5.V5Handler._links

    def padded(self, start: int, size: int, total: int, params: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
        real = links(self, start, size, total, params)
        return (f'<{"x" * padding}>; rel="other", ' if padding else "") + real if real else real

    monkeypatch.setattr(_v5.V5Handler, "_links", padded)
    with ReferenceServer(api_version="5.0.0") as server:
        result = run_suite(tmp_path, base_url=server.url, api_version="5.0.0", notifications="off",
                           only=["V5-LIST-LEAD"])
    cursor = [c for c in result.checks() if c.rule_id == "TMF630-PAGE-07"]
    assert cursor
    if padding:
        assert all(c.status.value == "skipped" and "not offered by the server" in c.message
                   for c in cursor), [(c.status, c.message) for c in cursor]
    else:
        assert all(c.status.value == "passed" for c in cursor), [(c.status, c.message) for c in cursor]
