"""Hub registration and live notifications against real servers and the kit's real listener."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from tmf699ctk._exceptions import ConfigError
from tmf699ctk._listener import MAX_EVENT_BYTES, Listener, parse_listen
from tmf699ctk._outputs import write_outputs
from tmf699ctk._results import Level, Status

from .conftest import failed_rules, run_suite
from .servers import LoopbackServer, closed_port_url

SCENARIO = ["FULL-NOTIFICATIONS", "FULL-NOTIFICATIONS-QUERY"]


def _steps(result, prefix: str):
    return [s for sc in result.scenarios for s in sc.steps if s.name.startswith(prefix)]


@pytest.mark.parametrize("server", ["reference v4", "independent v5"])
def test_a_proxy_in_the_environment_never_carries_the_servers_events(tmp_path: Path, server: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """http_proxy set, as on many company machines, to a port where nothing listens: the bundled
    servers still deliver every event straight to the kit's listener (urllib's default opener sent
    them to the proxy: 5 missing events, 23 skipped checks and 20 s for `run --embedded`)."""
    proxy = closed_port_url().removesuffix("/api")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    if server == "reference v4":
        result = run_suite(tmp_path, embedded=True, only=SCENARIO)
    else:
        from tmf699ctk.server.independent_v5 import IndependentV5Server

        with IndependentV5Server() as v5:
            result = run_suite(tmp_path, base_url=v5.url, api_version="5.0.0", only=["V5-NOTIFICATIONS-LEAD"])
    assert result.verdict == "PASS", failed_rules(result)
    events = [c for c in result.checks() if c.rule_id == "TMF699-EVENT-01"]
    assert events and all(c.status == Status.PASSED for c in events), [c.message for c in events]


def test_every_event_arrives_valid_and_is_recorded_with_its_latency(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, only=SCENARIO)
    assert result.verdict == "PASS", failed_rules(result)
    assert result.summary["checks"]["failed"] == 0 and result.summary["checks"]["skipped"] == 0
    received = _steps(result, "Receive ")
    assert [s.name for s in received] == [
        "Receive SalesLeadCreateEvent", "Receive SalesLeadAttributeValueChangeEvent",
        "Receive SalesLeadStateChangeEvent", "Receive SalesLeadDeleteEvent",
        "Receive SalesLeadCreateEvent at the filtered subscription"]
    for step in received:
        body = json.loads(step.exchange.request.body)
        assert step.name.split()[1] == body["eventType"]
        assert 0 < step.exchange.response.elapsed_ms < 5000  # time after the triggering request
        assert "/listener/" in step.exchange.request.url
    n = result.notifications
    assert n["mode"] == "optional" and n["listen"].startswith("127.0.0.1:") and n["received"] == 5
    assert n["unclaimed"] == []


def test_events_posted_to_the_callback_itself_are_accepted_too(tmp_path: Path, schemas) -> None:
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(events_to_callback=True, schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, only=SCENARIO)
    assert result.verdict == "PASS", failed_rules(result)
    received = _steps(result, "Receive ")
    assert len(received) == 5 and all("/listener/" not in s.exchange.request.url for s in received)


def test_the_report_shows_each_event_next_to_its_step(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, only=SCENARIO)
    html = write_outputs(result, tmp_path / "report" / "results.json").paths[0]
    text = html.read_text()
    assert "Receive SalesLeadStateChangeEvent" in text and "Created (kit listener)" in text
    assert "&#34;eventType&#34;: &#34;SalesLeadStateChangeEvent&#34;" in text


def test_notifications_off_skips_hub_and_events_with_the_reason(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, only=SCENARIO, notifications="off")
    assert result.verdict == "FAIL"  # nothing was checked at all: an empty selection is no PASS
    assert result.notifications is None
    reasons = {s.skipped_reason for s in result.scenarios[0].steps}
    assert reasons == {"notifications are off: no listener, so no hub or event test"}


def test_notifications_off_leaves_the_rest_of_the_verdict_alone(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, notifications="off")
    assert result.verdict == "PASS"
    assert all(c.status == Status.SKIPPED for c in result.checks() if c.family == "notifications")


def test_missing_events_only_warn_by_default(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, faults=frozenset({"events-never-sent"}), only=SCENARIO,
                       event_timeout=0.5)
    assert result.verdict == "PASS" and result.summary["warnings"] == 5
    arrival = [c for c in result.checks() if c.rule_id == "TMF699-EVENT-01"]
    assert all(c.level == Level.RECOMMENDED and c.status == Status.FAILED for c in arrival)
    assert arrival[0].message.startswith("no SalesLeadCreateEvent about lead ")
    assert "within 0.5 s" in arrival[0].message


def test_missing_events_fail_when_notifications_are_mandatory(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, faults=frozenset({"events-never-sent"}), only=SCENARIO,
                       event_timeout=0.5, notifications="mandatory")
    assert result.verdict == "FAIL"
    assert {c.level for c in result.checks() if c.rule_id.startswith("TMF699-EVENT")} == {Level.MANDATORY}


def test_a_malformed_event_fails_the_verdict_even_when_optional(tmp_path: Path) -> None:
    # an event of another type is taken for the awaited one only once the wait is over: keep it short
    result = run_suite(tmp_path, embedded=True, faults=frozenset({"event-wrong-type"}), only=SCENARIO,
                       event_timeout=0.5)
    assert result.verdict == "FAIL"
    wrong = next(c for c in result.checks() if c.rule_id == "TMF699-EVENT-03" and c.status == Status.FAILED)
    assert wrong.message == "eventType is 'LeadCreateEvent', expected 'SalesLeadCreateEvent'"


def test_a_server_that_cannot_reach_the_listener_gives_clear_failures_not_hangs(tmp_path: Path) -> None:
    unreachable_callback = closed_port_url().replace("/api", "/callback")
    started = time.monotonic()
    result = run_suite(tmp_path, embedded=True, only=SCENARIO, callback_url=unreachable_callback,
                       event_timeout=0.5)
    elapsed = time.monotonic() - started
    assert result.verdict == "PASS" and result.summary["warnings"] == 5
    message = next(c.message for c in result.checks() if c.rule_id == "TMF699-EVENT-01")
    # the server is told the user's callback, plus the run's token and the scenario's own path
    assert f"arrived at {unreachable_callback}/" in message and "within 0.5 s" in message
    # with no event at all, "no event after unsubscribing" proves nothing: inconclusive, not passed
    after = next(c for c in result.checks() if c.rule_id == "TMF699-EVENT-05")
    assert after.status == Status.SKIPPED and "inconclusive" in after.message
    assert elapsed < 30  # five waits of 0.5 s and two quiet periods, never a hang


def test_the_listener_listens_only_where_told_and_stops_with_the_run(tmp_path: Path) -> None:
    result = run_suite(tmp_path, embedded=True, only=SCENARIO)
    host, port = result.notifications["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass


def test_listener_accepts_only_its_callback_path_and_refuses_huge_bodies() -> None:
    with Listener("127.0.0.1", 0) as listener:
        base = listener.callback_url
        assert httpx.post(f"{base}/listener/salesLeadCreateEvent", json={"eventType": "x"}).status_code == 201
        assert httpx.post(base, json={"eventType": "y"}).status_code == 201
        assert httpx.post(base.replace("/callback", "/elsewhere"), json={}).status_code == 404
        token_guess = base.rsplit("/", 1)[0] + "/guessed-token"
        assert httpx.post(token_guess, json={}).status_code == 404
        assert httpx.post(base, content=b"x" * (MAX_EVENT_BYTES + 1)).status_code == 413
        assert [e.name for e in listener.events] == ["salesLeadCreateEvent", None, None, None]
        # POSTs outside the run's callback path are kept as evidence, with the reason
        assert [e.refused is not None for e in listener.events] == [False, False, True, True]
        found = listener.wait_for(lambda events: next((e for e in events if e.event_type() == "y"), None), 1)
        assert found is not None and found.claimed


def test_listen_values_are_validated() -> None:
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_listen("8080")


def test_an_attribute_event_sent_before_the_state_event_is_not_taken_for_it(tmp_path: Path, schemas) -> None:
    """status is an attribute too: a server may send SalesLeadAttributeValueChangeEvent on a status
    change, and the state event later. The wait for the state event waits for it."""
    import threading

    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas) as server:
        publish = server.state.publish

        def also_attribute_first(event_type: str, lead: dict) -> None:
            if event_type == "SalesLeadStateChangeEvent":
                publish("SalesLeadAttributeValueChangeEvent", lead)
                threading.Timer(0.3, publish, (event_type, lead)).start()
            else:
                publish(event_type, lead)

        server.state.publish = also_attribute_first  # type: ignore[method-assign]
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-NOTIFICATIONS"])
    assert failed_rules(result) == set() and result.verdict == "PASS"
    state = _steps(result, "Receive SalesLeadStateChangeEvent")[0]
    assert [c.status for c in state.checks if c.rule_id == "TMF699-EVENT-03"] == [Status.PASSED]


def test_an_event_delivered_twice_is_one_event(tmp_path: Path, schemas) -> None:
    """Delivery is at least once: the same event (same eventId) twice is not taken for the next one."""
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas) as server:
        deliver = server.state.events._deliver

        def twice(callback: str, event: dict) -> None:
            deliver(callback, event)
            deliver(callback, event)

        server.state.events._deliver = twice  # type: ignore[method-assign]
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-NOTIFICATIONS"])
    assert failed_rules(result) == set() and result.verdict == "PASS"
    assert result.notifications["unclaimed"]  # the second deliveries are kept as evidence, unclaimed


def _slow_events(server, delay: float) -> None:
    """Every event of ``server`` is delivered ``delay`` seconds after the request that caused it."""
    import threading

    deliver = server.state.events._deliver
    server.state.events._deliver = lambda callback, event: threading.Timer(  # type: ignore[method-assign]
        delay, deliver, (callback, event)).start()


@pytest.mark.parametrize("fault, rule", [("events-after-unsubscribe", "TMF699-EVENT-05"),
                                         ("hub-query-ignored", "TMF699-EVENT-06")])
def test_a_server_slower_than_the_quiet_period_is_still_watched_long_enough(tmp_path: Path, schemas, fault: str,
                                                                             rule: str) -> None:
    """Events that take 1.2 s to come, with a 0.4 s quiet period: an absence is watched for the quiet
    period plus the slowest delivery the scenario saw, so a late event that must not come is still
    seen, with 0.4 s to spare (with a fixed window, both faults passed)."""
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas, faults=frozenset({fault})) as server:
        _slow_events(server, 1.2)
        result = run_suite(tmp_path, base_url=server.url, only=SCENARIO, notifications="mandatory",
                           quiet_period=0.4, event_timeout=4.0)
    assert rule in failed_rules(result)


def test_a_slow_clean_server_passes_and_the_message_does_not_carry_the_measured_time(tmp_path: Path,
                                                                                      schemas) -> None:
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas) as server:
        _slow_events(server, 1.2)
        result = run_suite(tmp_path, base_url=server.url, only=SCENARIO, notifications="mandatory",
                           quiet_period=0.4, event_timeout=4.0)
    assert result.verdict == "PASS", failed_rules(result)
    absences = [c for c in result.checks() if c.rule_id in ("TMF699-EVENT-05", "TMF699-EVENT-06")]
    assert absences and all(c.status == Status.PASSED for c in absences)
    assert all("within 0.4 s (and the time the slowest event this scenario waited for took)" in c.message
               for c in absences)


def _late_stray_to_removed(server) -> None:
    """When the kit's lead is created, an event about another lead reaches every removed subscription:
    the server queued it before the unsubscription and delivers it late (with other scenarios' leads
    changing meanwhile, this happened in some runs only)."""
    publish, events = server.state.publish, server.state.events

    def with_stray(event_type: str, lead: dict) -> None:
        if event_type == "SalesLeadCreateEvent":
            stray = events._event("SalesLeadCreateEvent", {"id": "another-scenario-s-lead"})
            for subscription in server.state.unsubscribed:
                events._deliver(subscription["callback"], stray)
        publish(event_type, lead)

    server.state.publish = with_stray  # type: ignore[method-assign]


def test_an_event_naming_no_lead_at_a_removed_subscription_proves_nothing(tmp_path: Path, schemas) -> None:
    """Events without event.salesLead (TMF699-EVENT-04): one at the removed subscription may be another
    lead's, sent before the unsubscription and delivered late, so the absence is inconclusive, not
    failed (TMF699-EVENT-05 failed in about half the runs with --workers 4, depending on whether another
    scenario's lead was created while the subscription existed)."""
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas, faults=frozenset({"event-no-payload"})) as server:
        _late_stray_to_removed(server)
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-NOTIFICATIONS"])
    assert "TMF699-EVENT-04" in failed_rules(result) and "TMF699-EVENT-05" not in failed_rules(result)
    [absence] = [c for s in _steps(result, "No event at the removed subscription") for c in s.checks]
    assert absence.status == Status.SKIPPED and "names no lead" in absence.message


def test_an_event_about_another_lead_at_a_removed_subscription_is_not_this_lead_s(tmp_path: Path,
                                                                                   schemas) -> None:
    """The same late event, naming the other lead: not about this one, so the absence holds."""
    from tmf699ctk.server import ReferenceServer

    with ReferenceServer(schemas=schemas) as server:
        _late_stray_to_removed(server)
        result = run_suite(tmp_path, base_url=server.url, only=["FULL-NOTIFICATIONS"])
    assert result.verdict == "PASS" and failed_rules(result) == set()
    [absence] = [c for s in _steps(result, "No event at the removed subscription") for c in s.checks]
    assert absence.status == Status.PASSED


class _CountingListener:
    """A listener on 127.0.0.1 that counts the connections it accepts and the events it receives;
    ``close_after`` makes it close each connection after that many requests (announced), ``silent``
    after each request without saying so."""

    def __init__(self, close_after: int = 0, silent: bool = False) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler

        outer = self
        self.connections = 0
        self.events: list[str] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            served = 0

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.connections += 1

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.events.append(json.loads(body)["eventId"])
                self.served += 1
                self.send_response(201)
                self.send_header("Content-Length", "0")
                if close_after and self.served >= close_after:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if silent:
                    self.close_connection = True

        self.httpd = LoopbackServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_reference_server_keeps_its_event_connections_alive_and_bounded() -> None:
    """Events to one listener go over one kept-alive connection per delivery thread (not one
    connection, and one listener thread, each); a connection the listener closes is replaced; a
    thread keeps connections to at most four listeners (a long-lived `serve` outlives many runs)."""
    from tmf699ctk.server._events import KEPT_PER_THREAD, _Connections, post_event

    def event(n: int) -> bytes:
        return json.dumps({"eventId": f"e{n}", "eventType": "SalesLeadCreateEvent"}).encode()

    kept, closing, silent = _CountingListener(), _CountingListener(close_after=2), _CountingListener(silent=True)
    others = [_CountingListener() for _ in range(KEPT_PER_THREAD + 1)]
    try:
        connections = _Connections()
        for n in range(6):
            post_event(connections, kept.url, event(n))
            post_event(connections, closing.url, event(n))
            post_event(connections, silent.url, event(n))
        assert kept.events == [f"e{n}" for n in range(6)] and kept.connections == 1
        assert closing.events == kept.events and closing.connections == 3  # closed after every second event
        assert silent.events == kept.events  # each event after the first met a closed connection, and was resent
        for listener in others:
            post_event(connections, listener.url, event(0))
        assert all(listener.events == ["e0"] for listener in others)
        assert len(connections.open) == KEPT_PER_THREAD
        post_event(connections, closed_port_url(), event(9))  # nothing listens: dropped, nothing raised
    finally:
        for listener in (kept, closing, silent, *others):
            listener.close()
